{{/*
panel.loadtest.run: id of a load-test run, a hash of the rendered master and worker pod templates (with
an empty run id). Jobs are immutable: anything that changes a pod (settings, image, chart or app
version, global values) gives new Job names instead of failing the upgrade, and the master and its
workers share the id; an unchanged run is left alone.
*/}}
{{- define "panel.loadtest.run" -}}
{{- $pods := list -}}
{{- range $role := list "master" "worker" -}}
{{- $pods = append $pods (include "panel.loadtest.podTemplate" (dict "ctx" $ "role" $role "run" "")) -}}
{{- end -}}
{{- join "\n---\n" $pods | sha256sum | trunc 8 -}}
{{- end -}}

{{/*
panel.loadtest.excludeTags: the task tags a run leaves out, space-separated. The pods reach the web Service
over plain HTTP; an https PANEL_URL makes the session cookie `Secure`, which no client sends back over
HTTP, so every form login (the `dashboard` tasks) would fail. `auto` leaves those out then; any other
loadtest.excludeTags is taken as it is.
*/}}
{{- define "panel.loadtest.excludeTags" -}}
{{- $tags := .Values.loadtest.excludeTags -}}
{{- if eq $tags "auto" -}}
{{- $tags = ternary "dashboard" "" (hasPrefix "https://" (include "panel.publicUrl" .)) -}}
{{- end -}}
{{- $tags -}}
{{- end -}}

{{/*
panel.loadtest.job: a Locust Job, role "master" or "worker". The master's exit code (the SLO gate set by
panel-loadtest) is the Job's verdict: backoffLimit 0, so a failed gate is a failed Job and never retried.
Pass (dict "ctx" $ "role" "master").
*/}}
{{- define "panel.loadtest.job" -}}
{{- $ := .ctx -}}
{{- $l := $.Values.loadtest -}}
{{- $r := index $l .role -}}
{{- $run := include "panel.loadtest.run" $ -}}
apiVersion: batch/v1
kind: Job
metadata:
  {{- include "panel.metadata" (dict "ctx" $ "component" "loadtest" "name" (printf "loadtest-%s-%s" $run .role)) | nindent 2 }}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: {{ $l.activeDeadlineSeconds }}
  {{- if eq .role "worker" }}
  parallelism: {{ $r.replicas }}
  completions: {{ $r.replicas }}
  {{- end }}
  template:
    {{- include "panel.loadtest.podTemplate" (dict "ctx" $ "role" .role "run" $run) | nindent 4 }}
{{- end -}}

{{/*
panel.loadtest.podTemplate: the Locust pod of one role: "master", "worker", or "scheduled" (one pod that
runs the master and its workers as local processes, for the CronJob). Pass (dict "ctx" $ "role" R "run" ID).
*/}}
{{- define "panel.loadtest.podTemplate" -}}
{{- $ := .ctx -}}
{{- $l := $.Values.loadtest -}}
{{- $r := index $l .role -}}
{{- $ctx := dict "ctx" $ "component" "loadtest" "values" $l -}}
metadata:
  labels:
    {{- include "panel.podLabels" $ctx | nindent 4 }}
    panel.dev/loadtest-role: {{ .role }}
    panel.dev/loadtest-run: {{ .run | quote }}
spec:
  {{- include "panel.podCommon" $ctx | nindent 2 }}
  restartPolicy: Never
  containers:
    - name: locust
      image: {{ include "panel.image" (dict "ctx" $ "image" $l.image) }}
      imagePullPolicy: {{ $.Values.image.pullPolicy }}
      command:
        {{- toYaml $r.command | nindent 8 }}
      args:
        {{- toYaml $r.args | nindent 8 }}
      {{- if eq .role "master" }}
      ports:
        - {name: locust-ui, containerPort: 8089, protocol: TCP}
        - {name: locust-comm, containerPort: 5557, protocol: TCP}
      # Ready once workers can connect; the Service only routes to a ready master.
      readinessProbe:
        tcpSocket: {port: locust-comm}
        periodSeconds: 5
      {{- end }}
      env:
        - {name: PANEL_URL, value: {{ include "panel.webUrl" $ | quote }}}
        - {name: LOADTEST_USERNAME, value: {{ $l.username | quote }}}
        - {name: LOADTEST_SCENARIO, value: {{ $l.scenario | quote }}}
        - {name: LOADTEST_DURATION_SCALE, value: {{ $l.durationScale | quote }}}
        {{- with include "panel.loadtest.excludeTags" $ }}
        - {name: LOADTEST_EXCLUDE_TAGS, value: {{ . | quote }}}
        {{- end }}
        # The root filesystem is read-only; reports (summary.json, junit.xml) go to /tmp.
        - {name: LOADTEST_REPORT_DIR, value: /tmp/loadtest-reports}
        {{- if eq .role "master" }}
        - {name: LOADTEST_EXPECT_WORKERS, value: {{ $l.worker.replicas | quote }}}
        {{- else if eq .role "worker" }}
        - {name: LOADTEST_MASTER_HOST, value: {{ include "panel.objectName" (dict "ctx" $ "suffix" "loadtest-master") | quote }}}
        {{- end }}
        {{- if $l.locustfile }}
        - {name: LOADTEST_LOCUSTFILE, value: /etc/loadtest/locustfile.py}
        {{- end }}
        {{- if ne .role "worker" }}
        {{- /* The SLO gate, where the verdict is made; a variable the user sets in extraEnv is theirs. */}}
        {{- $given := list }}
        {{- range $l.extraEnv }}{{ $given = append $given .name }}{{ end }}
        {{- range $key, $value := $l.thresholds }}
        {{- $name := printf "LOADTEST_%s" ($key | snakecase | upper) }}
        {{- if not (has $name $given) }}
        - {name: {{ $name }}, value: {{ ternary (int $value | toString) (toString $value) (hasSuffix "Users" $key) | quote }}}
        {{- end }}
        {{- end }}
        {{- end }}
        {{- include "panel.secret.env" (dict "ctx" $ "credentials" (list "loadtest")) | nindent 8 }}
        {{- with $l.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      securityContext:
        {{- include "panel.containerSecurityContext" $ | nindent 8 }}
      resources:
        {{- toYaml $r.resources | nindent 8 }}
      volumeMounts:
        {{- include "panel.tmpMount" $ | nindent 8 }}
        {{- include "panel.secret.mounts" (dict "ctx" $ "credentials" (list "loadtest")) | nindent 8 }}
        {{- if $l.locustfile }}
        - {name: locustfile, mountPath: /etc/loadtest, readOnly: true}
        {{- end }}
  volumes:
    {{- include "panel.tmpVolume" $ | nindent 4 }}
    {{- include "panel.secret.volumes" (dict "ctx" $ "credentials" (list "loadtest")) | nindent 4 }}
    {{- if $l.locustfile }}
    - name: locustfile
      configMap:
        name: {{ include "panel.objectName" (dict "ctx" $ "suffix" "loadtest") }}
    {{- end }}
{{- end -}}
