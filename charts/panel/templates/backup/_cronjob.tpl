{{/*
panel.backup.credentials: what every backup run reads.
*/}}
{{- define "panel.backup.credentials" -}}
{{- toJson (list "database" "s3" "smtp" "backupEncryption" "backupWebhook") -}}
{{- end -}}

{{/*
panel.backup.cronjob: one backup CronJob named `<fullname>-backup-<job>`, so that
`kubectl create job --from=cronjob/<fullname>-backup-<job> <name>` runs it by hand.
Pass (dict "ctx" $ "job" "database").
*/}}
{{- define "panel.backup.cronjob" -}}
{{- $ := .ctx -}}
{{- $b := $.Values.backup -}}
{{- $job := index $b.jobs .job -}}
{{- if and $b.enabled $job.enabled -}}
{{- $name := printf "backup-%s" .job -}}
{{- $uploads := $.Values.persistence.uploads -}}
{{- $ctx := dict "ctx" $ "component" "backup" "values" $b -}}
{{- if and (eq .job "files") $uploads.enabled (not (has "ReadWriteMany" $uploads.accessModes)) (not $b.affinity) -}}
{{- /* A single-node volume is attached where the web pod runs: the files backup must run there too. */ -}}
{{- $web := dict "labelSelector" (dict "matchLabels" (include "panel.selectorLabels" (dict "ctx" $ "component" "web") | fromYaml)) "topologyKey" "kubernetes.io/hostname" -}}
{{- $affinity := dict "podAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $web)) -}}
{{- $ctx = dict "ctx" $ "component" "backup" "values" (merge (dict "affinity" $affinity) (deepCopy $b)) -}}
{{- end -}}
{{- $credentials := include "panel.backup.credentials" $ | fromJsonArray -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  {{- include "panel.metadata" (dict "ctx" $ "component" "backup" "name" $name) | nindent 2 }}
spec:
  schedule: {{ $job.schedule | quote }}
  {{- with $b.timeZone }}
  timeZone: {{ . | quote }}
  {{- end }}
  # Two runs of the same backup must never overlap (one would read a half-written state).
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ $b.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $b.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $b.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "panel.labels" $ctx | nindent 8 }}
    spec:
      backoffLimit: {{ $b.backoffLimit }}
      activeDeadlineSeconds: {{ $b.activeDeadlineSeconds }}
      template:
        metadata:
          labels:
            {{- include "panel.podLabels" $ctx | nindent 12 }}
            panel.dev/backup-job: {{ .job }}
          {{- with $.Values.podAnnotations }}
          annotations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        spec:
          {{- include "panel.podCommon" $ctx | nindent 10 }}
          restartPolicy: Never
          containers:
            - name: backup
              image: {{ include "panel.image" (dict "ctx" $ "image" $b.image) }}
              imagePullPolicy: {{ $.Values.image.pullPolicy }}
              {{- with $b.command }}
              command:
                {{- toYaml . | nindent 16 }}
              {{- end }}
              args:
                {{- toYaml $job.args | nindent 16 }}
              env:
                - {name: BACKUP_TARGET, value: {{ $b.target | quote }}}
                - {name: BACKUP_S3_REGION, value: {{ $b.s3Region | quote }}}
                {{- with $b.s3EndpointUrl }}
                - {name: BACKUP_S3_ENDPOINT_URL, value: {{ . | quote }}}
                {{- end }}
                - {name: BACKUP_FILES_PATHS, value: {{ $uploads.mountPath | quote }}}
                - {name: BACKUP_CONFIG_DIR, value: /etc/panel/config}
                {{- if $b.smtp.host }}
                - {name: BACKUP_SMTP_HOST, value: {{ $b.smtp.host | quote }}}
                - {name: BACKUP_SMTP_PORT, value: {{ $b.smtp.port | int | quote }}}
                - {name: BACKUP_SMTP_SECURITY, value: {{ $b.smtp.security | quote }}}
                - {name: BACKUP_SMTP_USERNAME, value: {{ $b.smtp.username | quote }}}
                - {name: BACKUP_EMAIL_FROM, value: {{ $b.smtp.from | quote }}}
                - {name: BACKUP_EMAIL_TO, value: {{ $b.smtp.to | quote }}}
                {{- end }}
                {{- with $b.pushgatewayUrl }}
                - {name: BACKUP_PUSHGATEWAY_URL, value: {{ . | quote }}}
                {{- end }}
                {{- range $rule := list "last" "daily" "weekly" "monthly" }}
                - {name: BACKUP_KEEP_{{ upper $rule }}, value: {{ index $b.retention $rule | int | quote }}}
                {{- end }}
                - {name: BACKUP_LOG_LEVEL, value: {{ $.Values.config.logLevel | quote }}}
                {{- if eq .job "drill" }}
                - {name: BACKUP_AGE_IDENTITY_FILE, value: /var/run/secrets/panel/backup-encryption/identity}
                {{- end }}
                {{- include "panel.secret.env" (dict "ctx" $ "credentials" $credentials) | nindent 16 }}
                {{- with $b.extraEnv }}
                {{- toYaml . | nindent 16 }}
                {{- end }}
              securityContext:
                {{- include "panel.containerSecurityContext" $ | nindent 16 }}
              resources:
                {{- toYaml $b.resources | nindent 16 }}
              volumeMounts:
                {{- include "panel.tmpMount" $ | nindent 16 }}
                {{- include "panel.secret.mounts" (dict "ctx" $ "credentials" $credentials) | nindent 16 }}
                - name: config
                  mountPath: /etc/panel/config
                  readOnly: true
                {{- if and (eq .job "files") $uploads.enabled }}
                - name: uploads
                  mountPath: {{ $uploads.mountPath }}
                  readOnly: true
                {{- end }}
          volumes:
            {{- include "panel.tmpVolume" $ | nindent 12 }}
            {{- include "panel.secret.volumes" (dict "ctx" $ "credentials" $credentials) | nindent 12 }}
            - name: config
              configMap:
                name: {{ include "panel.objectName" (dict "ctx" $ "suffix" "config") }}
            {{- if and (eq .job "files") $uploads.enabled }}
            - name: uploads
              persistentVolumeClaim:
                claimName: {{ default (include "panel.objectName" (dict "ctx" $ "suffix" "uploads")) $uploads.existingClaim }}
                readOnly: true
            {{- end }}
{{- end -}}
{{- end -}}
