{{/*
panel.secret.name: name of the Secret holding a credential: the user's existingSecret, or the one this
chart renders from values. Pass (dict "ctx" $ "credential" "database").
*/}}
{{- define "panel.secret.name" -}}
{{- $cfg := index .ctx.Values.secrets .credential -}}
{{- default (include "panel.objectName" (dict "ctx" .ctx "suffix" (kebabcase .credential))) $cfg.existingSecret -}}
{{- end -}}

{{/*
panel.secret.files: which keys of each credential become which `<NAME>_FILE` variable. One source of
truth for the Secret templates, the volume mounts and the environment.
*/}}
{{- define "panel.secret.files" -}}
app:
  secret-key: SECRET_KEY
  jwt-secret: JWT_SECRET
database:
  database-url: DATABASE_URL
redis:
  redis-url: REDIS_URL
s3:
  access-key-id: AWS_ACCESS_KEY_ID
  secret-access-key: AWS_SECRET_ACCESS_KEY
smtp:
  password: BACKUP_SMTP_PASSWORD
oauth-google:
  google-client-id: GOOGLE_CLIENT_ID
  google-client-secret: GOOGLE_CLIENT_SECRET
oauth-oidc:
  oidc-client-id: OIDC_CLIENT_ID
  oidc-client-secret: OIDC_CLIENT_SECRET
backupEncryption:
  recipients: BACKUP_AGE_RECIPIENTS
backupWebhook:
  webhook-url: BACKUP_WEBHOOK_URL
notificationSmtp:
  password: NOTIFY_SMTP_PASSWORD
notificationWebhook:
  signing-secret: NOTIFY_WEBHOOK_SECRET
loadtest:
  password: LOADTEST_PASSWORD
{{- end -}}

{{/*
panel.secret.enabled: "true" when a credential is configured (values or existingSecret).
Pass (dict "ctx" $ "credential" "s3").
*/}}
{{- define "panel.secret.enabled" -}}
{{- $v := .ctx.Values -}}
{{- $c := index $v.secrets .credential -}}
{{- $on := false -}}
{{- if $c.existingSecret -}}{{- $on = true -}}
{{- else if eq .credential "app" -}}{{- $on = and $c.secretKey $c.jwtSecret -}}
{{- else if eq .credential "database" -}}{{- $on = or $c.url (and $v.postgresql.enabled $v.postgresql.auth.password) -}}
{{- else if eq .credential "redis" -}}{{- $on = or $c.url (and $v.redis.enabled $v.redis.auth.password) -}}
{{- else if eq .credential "s3" -}}{{- $on = and $c.accessKeyId $c.secretAccessKey -}}
{{- else if eq .credential "smtp" -}}{{- $on = $c.password -}}
{{- else if eq .credential "oauth" -}}{{- $on = $c.provider -}}
{{- else if eq .credential "backupEncryption" -}}{{- $on = $c.recipients -}}
{{- else if eq .credential "backupWebhook" -}}{{- $on = $c.url -}}
{{- else if eq .credential "loadtest" -}}{{- $on = $c.password -}}
{{- else if eq .credential "notificationSmtp" -}}{{- $on = $c.password -}}
{{- else if eq .credential "notificationWebhook" -}}{{- $on = $c.signingSecret -}}
{{- end -}}
{{- if $on }}true{{ end -}}
{{- end -}}

{{/*
panel.secret.volumes: Secret volumes for the given credentials (those configured only).
Pass (dict "ctx" $ "credentials" (list "app" "database")).
*/}}
{{- define "panel.secret.volumes" -}}
{{- include "panel.secret.volumes.items" . | trim -}}
{{- end -}}

{{- define "panel.secret.volumes.items" -}}
{{- $ctx := .ctx -}}
{{- range .credentials }}
{{- if include "panel.secret.enabled" (dict "ctx" $ctx "credential" .) }}
- name: secret-{{ kebabcase . }}
  secret:
    secretName: {{ include "panel.secret.name" (dict "ctx" $ctx "credential" .) }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end -}}

{{/*
panel.secret.mounts: read-only mounts at /var/run/secrets/panel/<credential>.
*/}}
{{- define "panel.secret.mounts" -}}
{{- include "panel.secret.mounts.items" . | trim -}}
{{- end -}}

{{- define "panel.secret.mounts.items" -}}
{{- $ctx := .ctx -}}
{{- range .credentials }}
{{- if include "panel.secret.enabled" (dict "ctx" $ctx "credential" .) }}
- name: secret-{{ kebabcase . }}
  mountPath: /var/run/secrets/panel/{{ kebabcase . }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/*
panel.secret.env: `<NAME>_FILE` variables pointing at the mounted keys (secrets never in env values).
*/}}
{{- define "panel.secret.env" -}}
{{- include "panel.secret.env.items" . | trim -}}
{{- end -}}

{{- define "panel.secret.env.items" -}}
{{- $ctx := .ctx -}}
{{- $files := include "panel.secret.files" $ctx | fromYaml -}}
{{- range .credentials }}
{{- $credential := . -}}
{{- if include "panel.secret.enabled" (dict "ctx" $ctx "credential" $credential) }}
{{- $keys := index $files $credential -}}
{{- if eq $credential "oauth" }}{{ $keys = index $files (printf "oauth-%s" $ctx.Values.secrets.oauth.provider) }}{{ end }}
{{- range $key, $env := $keys }}
- name: {{ $env }}_FILE
  value: /var/run/secrets/panel/{{ kebabcase $credential }}/{{ $key }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
