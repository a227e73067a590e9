{{/*
panel.autoscaling.hpa: an autoscaling/v2 HPA for a component's Deployment: CPU and memory targets (each
left out at 0), the component's extra `metrics` and the chart's own (`metrics`, e.g. the worker's queue
length), and `behavior`. Pass (dict "ctx" $ "component" "web" "autoscaling" .Values.web.autoscaling
"metrics" (list ...)).
*/}}
{{- define "panel.autoscaling.hpa" -}}
{{- $a := .autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "panel.metadata" (dict "ctx" .ctx "component" .component "name" .component) | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "panel.objectName" (dict "ctx" .ctx "suffix" .component) }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    {{- with $a.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with .metrics }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $a.metrics }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
panel.worker.autoscaler: what scales the workers: "" (nothing), "hpa" (an HPA, with the queue length as
an External metric when asked) or "keda" (a KEDA ScaledObject, which makes its own HPA): KEDA when
queueLength.provider is keda, or auto and the cluster serves keda.sh/v1alpha1 ScaledObjects.
*/}}
{{- define "panel.worker.autoscaler" -}}
{{- $a := .Values.worker.autoscaling -}}
{{- if and .Values.worker.enabled $a.enabled -}}
{{- $q := $a.queueLength -}}
{{- $keda := or (eq $q.provider "keda") (and (eq $q.provider "auto") (.Capabilities.APIVersions.Has "keda.sh/v1alpha1/ScaledObject")) -}}
{{- ternary "keda" "hpa" (and $q.enabled $keda) -}}
{{- end -}}
{{- end -}}

{{/*
panel.worker.queueQuery: PromQL for the jobs waiting in the worker's queues (queueLength.query wins).
The `namespace` label is the one Prometheus gives the exporter's targets.
*/}}
{{- define "panel.worker.queueQuery" -}}
{{- $q := .Values.worker.autoscaling.queueLength -}}
{{- $default := printf "sum(panel_health_rq_jobs{state=\"queued\", queue=~\"%s\", namespace=\"%s\"})" (join "|" $q.queues) .Release.Namespace -}}
{{- default $default $q.query -}}
{{- end -}}
