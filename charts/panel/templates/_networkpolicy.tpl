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
panel.np.urlServer: host and port of a URL as YAML (`host: h`, `port: 443`); the port is the URL's, or
443/80 by scheme. Pass the URL.
*/}}
{{- define "panel.np.urlServer" -}}
{{- $url := urlParse . -}}
{{- $host := $url.host -}}
{{- $port := ternary "443" "80" (eq $url.scheme "https") -}}
{{- if regexMatch ":[0-9]+$" $host -}}
{{- $port = regexFind "[0-9]+$" $host -}}
{{- $host = regexReplaceAll ":[0-9]+$" $host "" -}}
{{- end -}}
host: {{ $host | quote }}
port: {{ $port }}
{{- end -}}

{{/*
panel.np.hostPeer: how egress reaches a host: `namespace` for an in-cluster Service name
(`<name>.<namespace>.svc[.<cluster domain>]`), `local` for a bare `<name>` (a Service in this namespace),
`cidrs` for anything else (NetworkPolicies know no DNS names). Pass the host.
*/}}
{{- define "panel.np.hostPeer" -}}
{{- if regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.svc(\\..+)?$" . -}}
namespace
{{- else if regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" . -}}
local
{{- else -}}
cidrs
{{- end -}}
{{- end -}}

{{/*
panel.np.url: egress rule to the server of a URL, derived from the URL itself (port: panel.np.urlServer).
An in-cluster Service name (`<name>.<namespace>.svc[.<cluster domain>]`) becomes a namespace selector
(ipBlock rules do not reliably match pod addresses); a bare `<name>` means this namespace; anything else
is reached through `cidrs`; `ports`, when given, replace the URL's port. Pass (dict "url" "https://..."
"cidrs" list), optionally "ports" list.
*/}}
{{- define "panel.np.url" -}}
{{- $server := include "panel.np.urlServer" .url | fromYaml -}}
{{- $where := include "panel.np.hostPeer" $server.host -}}
- to:
    {{- if eq $where "namespace" }}
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ index (splitList "." $server.host) 1 }}
    {{- else if eq $where "local" }}
    - podSelector: {}
    {{- else }}
    {{- range .cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
    {{- end }}
  ports:
    {{- range (.ports | default (list $server.port)) }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end -}}

{{/*
panel.np.publicUrl: egress of the health exporter to the public URL whose certificate it checks: the
URL's server through networkPolicy.publicUrl.cidrs, and the ingress controller pods on the same port (a
load balancer inside the cluster may hand the connection straight to them). Empty without a URL.
*/}}
{{- define "panel.np.publicUrl" -}}
{{- with include "panel.healthcheck.publicUrl" . -}}
{{- include "panel.np.url" (dict "url" . "cidrs" $.Values.networkPolicy.publicUrl.cidrs) }}
- to:
    {{- toYaml $.Values.networkPolicy.ingressControllerPeers | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ (include "panel.np.urlServer" . | fromYaml).port }}}
{{- end -}}
{{- end -}}

{{/*
panel.np.smtp: egress rule to a mail server, from its host and port as panel.np.url does for a URL.
Pass (dict "host" "smtp.example.com" "port" 587 "cidrs" list), optionally "ports" list.
*/}}
{{- define "panel.np.smtp" -}}
{{- /* An IPv6 address needs brackets to be a URL host. */ -}}
{{- $host := ternary (printf "[%s]" .host) .host (contains ":" .host) -}}
{{- include "panel.np.url" (dict "url" (printf "smtp://%s:%d" $host (.port | int)) "cidrs" .cidrs "ports" .ports) -}}
{{- end -}}

{{/*
panel.np.notifications: the worker's egress for the notifications it sends: the mail server of
notifications.smtp (host and port as with panel.np.url, other hosts through
networkPolicy.notifications.smtp.cidrs), and each of networkPolicy.notifications.webhooks, `{url}` (and
its `cidrs` for a host outside the cluster) or `{cidrs, ports}`. Empty without either.
*/}}
{{- define "panel.np.notifications" -}}
{{- $np := .Values.networkPolicy.notifications -}}
{{- $smtp := .Values.notifications.smtp -}}
{{- with $smtp.host }}
{{ include "panel.np.smtp" (dict "host" . "port" $smtp.port "cidrs" $np.smtp.cidrs) }}
{{- end }}
{{- range $np.webhooks }}
{{- if .url }}
{{ include "panel.np.url" (dict "url" .url "cidrs" (default list .cidrs)) }}
{{- else }}
{{ include "panel.np.cidrs" (dict "cidrs" .cidrs "ports" .ports) }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
panel.np.only: a policy direction whose rules are only the user's (networkPolicy.extraIngress /
extraEgress of the component), or `[]` (deny all) without any. Pass (dict "direction" "ingress" "rules" list).
*/}}
{{- define "panel.np.only" -}}
{{- if .rules -}}
{{ .direction }}:
  {{- toYaml .rules | nindent 2 }}
{{- else -}}
{{ .direction }}: []
{{- end -}}
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
