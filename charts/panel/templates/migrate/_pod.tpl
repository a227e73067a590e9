{{/*
panel.migrate.pod: the migration Job's pod template; its hash names the Job.
*/}}
{{- define "panel.migrate.pod" -}}
{{- $ := .ctx -}}
metadata:
  labels:
    {{- include "panel.podLabels" . | nindent 4 }}
  {{- with $.Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- include "panel.podCommon" . | nindent 2 }}
  restartPolicy: Never
  containers:
    - name: migrate
      image: {{ include "panel.image" (dict "ctx" $ "image" $.Values.image) }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      {{- with $.Values.migrate.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      args:
        {{- toYaml $.Values.migrate.args | nindent 8 }}
      envFrom:
        {{- include "panel.app.envFrom" $ | nindent 8 }}
      env:
        {{- include "panel.app.env" (dict "ctx" $) | nindent 8 }}
      securityContext:
        {{- include "panel.containerSecurityContext" $ | nindent 8 }}
      resources:
        {{- toYaml $.Values.migrate.resources | nindent 8 }}
      volumeMounts:
        {{- include "panel.app.volumeMounts" (dict "ctx" $) | nindent 8 }}
  volumes:
    {{- include "panel.app.volumes" (dict "ctx" $) | nindent 4 }}
{{- end -}}
