{{/*
panel.np.peer: a NetworkPolicy peer selecting this release's pods of one component.
Pass (dict "ctx" $ "component" "web").
*/}}
{{- define "panel.np.peer" -}}
- podSelector:
    matchLabels:
      {{- include "panel.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/*
panel.np.dns: egress rule for DNS (forgetting it is the classic NetworkPolicy outage).
*/}}
{{- define "panel.np.dns" -}}
- to:
    {{- toYaml .Values.networkPolicy.dnsPeers | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}

{{/*
panel.np.database: egress rule to the bundled database pods or to the external database CIDRs.
*/}}
{{- define "panel.np.database" -}}
{{- if .Values.postgresql.enabled -}}
- to:
    {{- include "panel.np.peer" (dict "ctx" . "component" "database") | nindent 4 }}
  ports:
    - {protocol: TCP, port: 5432}
{{- else -}}
- to:
    {{- range .Values.networkPolicy.externalDatabase.cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.externalDatabase.port }}}
{{- end -}}
{{- end -}}

{{/*
panel.np.redis: egress rule to the bundled Redis pods or to the external Redis CIDRs.
*/}}
{{- define "panel.np.redis" -}}
{{- if .Values.redis.enabled -}}
- to:
    {{- include "panel.np.peer" (dict "ctx" . "component" "redis") | nindent 4 }}
  ports:
    - {protocol: TCP, port: 6379}
{{- else -}}
- to:
    {{- range .Values.networkPolicy.externalRedis.cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ .Values.networkPolicy.externalRedis.port }}}
{{- end -}}
{{- end -}}

{{/*
panel.np.cidrs: egress rule to CIDRs on ports. Pass (dict "cidrs" list "ports" list).
*/}}
{{- define "panel.np.cidrs" -}}
- to:
    {{- range .cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    {{- range .ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end -}}

{{/*
panel.np.metadata: metadata + podSelector + policyTypes of a component's NetworkPolicy.
Pass (dict "ctx" $ "component" "web").
*/}}
{{- define "panel.np.head" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "panel.metadata" (dict "ctx" .ctx "component" .component "name" .component) | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- include "panel.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
{{- end -}}
