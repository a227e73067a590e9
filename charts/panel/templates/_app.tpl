{{/*
panel.app.credentials: the credentials a panel-image container (web, worker, migrate and the schema wait)
reads. Only the worker sends notifications (web merely queues them), so only its container mounts their
secrets, and only its pods roll when they change. Pass (dict "ctx" $ "component" "worker"); without a
component (or with the root context), the set every panel container reads.
*/}}
{{- define "panel.app.credentials" -}}
{{- $credentials := list "app" "database" "redis" "oauth" -}}
{{- if eq (toString .component) "worker" -}}
{{- $credentials = concat $credentials (list "notificationSmtp" "notificationWebhook") -}}
{{- end -}}
{{- toJson $credentials -}}
{{- end -}}

{{/*
panel.container.run: `command` and `args` of a long-running container: the component's own (`command`
only when set, so the image's entrypoint stays otherwise), or diagnosticMode's, which keep the container
idle for `kubectl exec`. Pass (dict "ctx" $ "command" .Values.web.command "args" .Values.web.args).
*/}}
{{- define "panel.container.run" -}}
{{- $d := .ctx.Values.diagnosticMode -}}
{{- if $d.enabled -}}
command:
  {{- toYaml $d.command | nindent 2 }}
args:
  {{- toYaml $d.args | nindent 2 }}
{{- else -}}
{{- with .command }}
command:
  {{- toYaml . | nindent 2 }}
{{- end }}
args:
  {{- toYaml .args | nindent 2 }}
{{- end -}}
{{- end -}}

{{/*
panel.container.probes: the probes given (startupProbe, readinessProbe, livenessProbe; empty ones left
out), none in diagnosticMode (an idle container answers nothing). Pass (dict "ctx" $ "probes" (dict
"readinessProbe" .Values.web.readinessProbe ...)).
*/}}
{{- define "panel.container.probes" -}}
{{- if not .ctx.Values.diagnosticMode.enabled -}}
{{- range $name := list "startupProbe" "readinessProbe" "livenessProbe" -}}
{{- with index $.probes $name }}
{{ $name }}:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
panel.container.lifecycle: `lifecycle` of a long-running container: the component's lifecycleHooks,
else the chart's default (may be empty); none in diagnosticMode. Pass (dict "ctx" $ "hooks"
.Values.web.lifecycleHooks "default" (dict ...)).
*/}}
{{- define "panel.container.lifecycle" -}}
{{- if not .ctx.Values.diagnosticMode.enabled -}}
{{- with (default .default .hooks) -}}
lifecycle:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
panel.app.metricsPort: the `metrics` container port of web and worker (METRICS_PORT), none when 0.
*/}}
{{- define "panel.app.metricsPort" -}}
{{- with .Values.metrics.port -}}
- name: metrics
  containerPort: {{ . }}
  protocol: TCP
{{- end -}}
{{- end -}}

{{/*
panel.metrics.service: a headless Service for Prometheus only: the component's metrics ports, labelled
for the ServiceMonitor. Pass (dict "ctx" $ "component" "web" "ports" (list (dict "name" "metrics" "port" 9102))).
*/}}
{{- define "panel.metrics.service" -}}
{{- if .ports -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "panel.metadata" (dict "ctx" .ctx "component" .component "name" (printf "%s-metrics" .component) "labels" (include "panel.metrics.serviceLabel" . | fromYaml)) | nindent 2 }}
spec:
  # Headless: Prometheus scrapes every pod; nothing else connects through it.
  clusterIP: None
  selector:
    {{- include "panel.selectorLabels" . | nindent 4 }}
  ports:
    {{- range .ports }}
    - {name: {{ .name }}, port: {{ .port }}, targetPort: {{ .name }}, protocol: TCP}
    {{- end }}
{{- end -}}
{{- end -}}

{{/*
panel.metrics.serviceLabel: the label the ServiceMonitor selects metrics Services by.
*/}}
{{- define "panel.metrics.serviceLabel" -}}
panel.dev/metrics: "true"
{{- end -}}

{{/*
panel.app.env: environment of a panel-image container: ConfigMap settings arrive through envFrom;
this adds the `*_FILE` pointers and the user's extra variables. Pass (dict "ctx" $ "values" .Values.web).
*/}}
{{- define "panel.app.env" -}}
{{- include "panel.secret.env" (dict "ctx" .ctx "credentials" (include "panel.app.credentials" . | fromJsonArray)) | trim }}
{{- with .ctx.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with (default dict .values).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.app.envFrom: the shared ConfigMap plus the user's extraEnvFrom.
*/}}
{{- define "panel.app.envFrom" -}}
- configMapRef:
    name: {{ include "panel.objectName" (dict "ctx" . "suffix" "config") }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.app.volumeMounts: /tmp, the credentials and the user's extra mounts. Pass (dict "ctx" $).
*/}}
{{- define "panel.app.volumeMounts" -}}
{{- include "panel.tmpMount" .ctx }}
{{ include "panel.secret.mounts" (dict "ctx" .ctx "credentials" (include "panel.app.credentials" . | fromJsonArray)) }}
{{- with .ctx.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.app.volumes: the volumes behind panel.app.volumeMounts.
*/}}
{{- define "panel.app.volumes" -}}
{{- include "panel.tmpVolume" .ctx }}
{{ include "panel.secret.volumes" (dict "ctx" .ctx "credentials" (include "panel.app.credentials" . | fromJsonArray)) }}
{{- with .ctx.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.app.initContainers: init containers of web and worker: the schema wait (left out in
diagnosticMode, so a pod can be debugged while the database is broken), then the user's.
Pass (dict "ctx" $ "values" .Values.web).
*/}}
{{- define "panel.app.initContainers" -}}
{{- if not .ctx.Values.diagnosticMode.enabled }}
{{ include "panel.app.waitForSchema" . }}
{{- end }}
{{- with .values.initContainers }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.app.waitForSchema: init container that blocks until the migration Job has brought the schema to
the revision this image expects (`panel wait-for-schema`). Only the migrate Job migrates.
*/}}
{{- define "panel.app.waitForSchema" -}}
- name: wait-for-schema
  image: {{ include "panel.image" (dict "ctx" .ctx "image" .ctx.Values.image) }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  args:
    {{- toYaml .ctx.Values.migrate.waitForSchema.args | nindent 4 }}
  envFrom:
    {{- include "panel.app.envFrom" .ctx | nindent 4 }}
  env:
    {{- include "panel.app.env" (dict "ctx" .ctx) | nindent 4 }}
  securityContext:
    {{- include "panel.containerSecurityContext" .ctx | nindent 4 }}
  resources:
    {{- toYaml .ctx.Values.migrate.waitForSchema.resources | nindent 4 }}
  volumeMounts:
    {{- include "panel.app.volumeMounts" (dict "ctx" .ctx) | nindent 4 }}
{{- end -}}

{{/*
panel.healthcheck.credentials: the credentials the health exporter reads.
*/}}
{{- define "panel.healthcheck.credentials" -}}
{{- toJson (list "database" "redis") -}}
{{- end -}}

{{/*
panel.healthcheck.publicUrl: PANEL_PUBLIC_URL, healthcheck.publicUrl or the ingress's first host when the
ingress terminates TLS; empty otherwise.
*/}}
{{- define "panel.healthcheck.publicUrl" -}}
{{- $i := .Values.ingress -}}
{{- if .Values.healthcheck.publicUrl -}}
{{- .Values.healthcheck.publicUrl -}}
{{- else if and $i.enabled $i.tls.enabled $i.hosts -}}
{{- printf "https://%s" (first $i.hosts) -}}
{{- end -}}
{{- end -}}

{{/*
panel.healthcheck.container: the health exporter container (own Deployment or web sidecar).
*/}}
{{- define "panel.healthcheck.container" -}}
{{- $v := .Values.healthcheck -}}
- name: healthcheck
  image: {{ include "panel.image" (dict "ctx" . "image" $v.image) }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- include "panel.container.run" (dict "ctx" . "command" $v.command "args" $v.args) | trim | nindent 2 }}
  ports:
    # Not `metrics`: as a web sidecar it shares the pod with web's own metrics port.
    - name: health-metrics
      containerPort: 9117
      protocol: TCP
  env:
    - name: PANEL_HEALTH_CONFIG
      value: /etc/panel-health/config.yaml
    - name: PANEL_URL
      value: {{ include "panel.webUrl" . | quote }}
    {{- with include "panel.healthcheck.publicUrl" . }}
    # The TLS check measures the certificate users see, not the in-cluster HTTP Service.
    - name: PANEL_PUBLIC_URL
      value: {{ . | quote }}
    {{- end }}
    {{- include "panel.secret.env" (dict "ctx" . "credentials" (include "panel.healthcheck.credentials" . | fromJsonArray)) | nindent 4 }}
  securityContext:
    {{- include "panel.containerSecurityContext" . | nindent 4 }}
  {{- with include "panel.container.probes" (dict "ctx" . "probes" (pick $v "readinessProbe" "livenessProbe")) | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with include "panel.container.lifecycle" (dict "ctx" . "hooks" $v.lifecycleHooks) }}
  {{- . | nindent 2 }}
  {{- end }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  volumeMounts:
    {{- include "panel.tmpMount" . | nindent 4 }}
    - name: healthcheck-config
      mountPath: /etc/panel-health
      readOnly: true
    {{- include "panel.secret.mounts" (dict "ctx" . "credentials" (include "panel.healthcheck.credentials" . | fromJsonArray)) | nindent 4 }}
{{- end -}}

{{/*
panel.healthcheck.volumes: the exporter's config volume (/tmp and credentials come with the pod).
*/}}
{{- define "panel.healthcheck.volumes" -}}
- name: healthcheck-config
  configMap:
    name: {{ include "panel.objectName" (dict "ctx" . "suffix" "healthcheck") }}
{{- end -}}
