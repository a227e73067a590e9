{{/*
panel.name: the chart name (nameOverride wins), used in the app.kubernetes.io/name label.
*/}}
{{- define "panel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
panel.fullname: prefix of every resource name; the release name by default so that names read
`<release>-web`, `<release>-backup-database` (what the README's kubectl commands use); dots become dashes
and a leading digit gets the chart name in front (Service names are DNS labels). Objects are
named through panel.objectName, which keeps every name within its kind's limit.
*/}}
{{- define "panel.fullname" -}}
{{- $name := default .Release.Name .Values.fullnameOverride | replace "." "-" -}}
{{- /* Helm accepts release names such as `2024.prod`; a Service name must start with a letter, no dots. */ -}}
{{- if regexMatch "^[0-9]" $name }}{{ $name = printf "%s-%s" .Chart.Name $name }}{{ end -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
panel.objectName: the name of one of the release's objects, `<fullname>-<suffix>`, never longer than 52
characters: the strictest limit of the kinds the chart renders (a CronJob's Jobs append 11 characters to
63, a StatefulSet's controller-revision-hash label does the same; Services and Job pod labels allow 63).
One limit for every kind keeps the names of a component's objects (StatefulSet, Service, ...) equal.
A name that would be longer keeps its suffix, shortens the release part and adds a hash of the whole
fullname, so two long release names that share a prefix still get different names:
`<fullname cut>-<6 hex>-<suffix>`. Short names are unchanged (`<release>-backup-database`).
Pass (dict "ctx" $ "suffix" "backup-database").
*/}}
{{- define "panel.objectName" -}}
{{- $limit := 52 -}}
{{- $fullname := include "panel.fullname" .ctx -}}
{{- $name := printf "%s-%s" $fullname .suffix -}}
{{- if gt (len $name) $limit -}}
{{- $keep := sub $limit (add (len .suffix) 8) -}}
{{- if lt $keep 1 -}}{{- fail (printf "panel.objectName: suffix %q leaves no room for the release name" .suffix) -}}{{- end -}}
{{- $source := default .ctx.Release.Name .ctx.Values.fullnameOverride -}}
{{- $name = printf "%s-%s-%s" ($fullname | trunc (int $keep) | trimSuffix "-") ($source | sha256sum | trunc 6) .suffix -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/*
panel.labels: labels of every resource. Pass (dict "ctx" $ "component" "web").
*/}}
{{- define "panel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "panel.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: panel
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.selectorLabels: the only labels selectors use. They never change across upgrades (no version),
because Deployment/StatefulSet selectors are immutable. Pass (dict "ctx" $ "component" "web").
*/}}
{{- define "panel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "panel.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
panel.metadata: name, namespace, labels and annotations of a resource.
commonAnnotations are added to every object's annotations (the object's own win on a clash).
Pass (dict "ctx" $ "component" "web" "name" "web"), optionally "labels" and "annotations" (dicts),
"fixedName" (a name given by the user, e.g. serviceAccount.name, used as is) and "namespace" (default:
the release's).
*/}}
{{- define "panel.metadata" -}}
name: {{ default (include "panel.objectName" (dict "ctx" .ctx "suffix" .name)) .fixedName }}
namespace: {{ default .ctx.Release.Namespace .namespace }}
labels:
  {{- include "panel.labels" . | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with merge (deepCopy (default dict .annotations)) (default dict .ctx.Values.commonAnnotations) }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
panel.serviceAccount.name: the ServiceAccount a component's pods run as: `<release>-<component>` (its own,
so that a workload-identity role given to one component never reaches another), the name the user set,
or `default` when the chart creates none. Pass (dict "ctx" $ "component" "web" "values" .Values.web).
*/}}
{{- define "panel.serviceAccount.name" -}}
{{- $sa := .values.serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "panel.objectName" (dict "ctx" .ctx "suffix" .component)) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/*
panel.serviceAccount: a component's ServiceAccount, when it creates one; no Role is ever bound (nothing
in Panel calls the Kubernetes API). Pass (dict "ctx" $ "component" "web" "values" .Values.web).
*/}}
{{- define "panel.serviceAccount" -}}
{{- $sa := .values.serviceAccount -}}
{{- if $sa.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "panel.metadata" (dict "ctx" .ctx "component" .component "name" .component "fixedName" $sa.name "annotations" $sa.annotations) | nindent 2 }}
automountServiceAccountToken: {{ $sa.automountServiceAccountToken }}
{{- end -}}
{{- end -}}

{{/*
panel.image: full image reference. Pass (dict "ctx" $ "image" .Values.image). The digest wins over the
tag; global.imageRegistry, when set, replaces the registry of every image, bundled ones included
(Bitnami's meaning: point the whole release at a mirror).
*/}}
{{- define "panel.image" -}}
{{- $registry := default .image.registry .ctx.Values.global.imageRegistry -}}
{{- $name := .image.repository -}}
{{- if $registry }}{{ $name = printf "%s/%s" $registry .image.repository }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $name .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
panel.storageClass: `storageClassName` of a claim: global.storageClass wins (Bitnami's meaning), then the
claim's own; `-` asks for no dynamic provisioning (`storageClassName: ""`); nothing set leaves the
cluster default. Pass (dict "ctx" $ "class" .Values.persistence.uploads.storageClass).
*/}}
{{- define "panel.storageClass" -}}
{{- $class := default .class .ctx.Values.global.storageClass -}}
{{- if eq $class "-" -}}
storageClassName: ""
{{- else if $class -}}
storageClassName: {{ $class | quote }}
{{- end -}}
{{- end -}}

{{/*
panel.compatibility.openshift: "true" when the security contexts are adapted to OpenShift: with
global.compatibility.openshift.adaptSecurityContext `force`, or `auto` on a cluster that serves
security.openshift.io/v1 (Bitnami's meaning).
*/}}
{{- define "panel.compatibility.openshift" -}}
{{- $mode := .Values.global.compatibility.openshift.adaptSecurityContext -}}
{{- if or (eq $mode "force") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "security.openshift.io/v1")) -}}
true
{{- end -}}
{{- end -}}

{{/*
panel.podSecurityContext / panel.containerSecurityContext: the restricted-PSS contexts from values. On
OpenShift the fixed uid, gid and fsGroup (and seLinuxOptions) are left out: its restricted-v2 SCC assigns
them from the namespace's range and refuses pods that ask for others.
*/}}
{{- define "panel.podSecurityContext" -}}
{{- $context := .Values.podSecurityContext -}}
{{- if include "panel.compatibility.openshift" . -}}
{{- $context = omit $context "runAsUser" "runAsGroup" "fsGroup" "seLinuxOptions" -}}
{{- end -}}
{{- toYaml $context -}}
{{- end -}}

{{- define "panel.containerSecurityContext" -}}
{{- $context := .Values.containerSecurityContext -}}
{{- if include "panel.compatibility.openshift" . -}}
{{- $context = omit $context "runAsUser" "runAsGroup" "seLinuxOptions" -}}
{{- end -}}
{{- toYaml $context -}}
{{- end -}}

{{/*
panel.podCommon: pod-level fields shared by every workload (service account, security, pull secrets,
scheduling). Pass (dict "ctx" $ "component" "web" "values" .Values.web); component values override the
global nodeSelector/tolerations; affinity defaults to soft anti-affinity across nodes.
*/}}
{{- define "panel.podCommon" -}}
{{- $ctx := .ctx -}}
{{- $v := default dict .values -}}
serviceAccountName: {{ include "panel.serviceAccount.name" . }}
automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
enableServiceLinks: false
securityContext:
  {{- include "panel.podSecurityContext" $ctx | nindent 2 }}
{{- with $ctx.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $ctx.Values.schedulerName }}
schedulerName: {{ . }}
{{- end }}
{{- with $ctx.Values.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with $ctx.Values.hostAliases }}
hostAliases:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $ctx.Values.nodeSelector $v.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $ctx.Values.tolerations $v.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if $v.affinity }}
  {{- toYaml $v.affinity | nindent 2 }}
{{- else }}
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "panel.selectorLabels" . | nindent 14 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range . }}
  - {{- toYaml (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" (include "panel.selectorLabels" $ | fromYaml)))) | nindent 4 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
panel.podLabels: labels of a pod template: selector labels + global and component pod labels.
Pass (dict "ctx" $ "component" "web" "values" .Values.web).
*/}}
{{- define "panel.podLabels" -}}
{{- include "panel.labels" . }}
{{- with .ctx.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- with (default dict .values).podLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
panel.tmpVolume / panel.tmpMount: the writable /tmp every container gets (read-only root filesystem).
*/}}
{{- define "panel.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{- define "panel.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
panel.checksums: pod annotations that change when what the pod reads changes, so that `helm upgrade`
rolls it: the shared ConfigMap when it reads it ("config" true) and the Secrets of the credentials it
mounts, nothing else (an S3 or SMTP secret never rolls web). Hashes the rendered manifests, not the
values. Pass (dict "ctx" $ "config" true "credentials" (list "app" "database")).
*/}}
{{- define "panel.checksums" -}}
{{- $ctx := .ctx -}}
{{- $secrets := list -}}
{{- range .credentials -}}
{{- $secrets = append $secrets (include (print $ctx.Template.BasePath "/shared/secret-" (kebabcase .) ".yaml") $ctx) -}}
{{- end -}}
{{- if .config -}}
checksum/config: {{ include (print $ctx.Template.BasePath "/shared/configmap.yaml") $ctx | sha256sum }}
{{ end -}}
checksum/secrets: {{ join "\n" $secrets | sha256sum }}
{{- end -}}

{{/*
panel.service.ipFamilies: the dual-stack fields of a Service, when set. Pass the service values.
*/}}
{{- define "panel.service.ipFamilies" -}}
{{- with .ipFamilyPolicy }}
ipFamilyPolicy: {{ . }}
{{- end }}
{{- with .ipFamilies }}
ipFamilies:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
panel.webUrl: in-cluster URL of the web Service. The bare Service name resolves in the pod's own
namespace (its first DNS search domain), so the manifests do not depend on the namespace they were
rendered for: the kustomize base (deploy/kustomize) can be applied to any namespace.
*/}}
{{- define "panel.webUrl" -}}
{{- printf "http://%s:%v" (include "panel.objectName" (dict "ctx" . "suffix" "web")) .Values.web.service.port -}}
{{- end -}}

{{/*
panel.publicUrl: PANEL_URL, from config.url, the first ingress host, or the first HTTPRoute host name
(https: Gateways terminate TLS; set config.url otherwise).
*/}}
{{- define "panel.publicUrl" -}}
{{- if .Values.config.url -}}
{{- .Values.config.url -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) (first .Values.ingress.hosts) -}}
{{- else if and .Values.httpRoute.enabled (default .Values.ingress.hosts .Values.httpRoute.hostnames) -}}
{{- printf "https://%s" (first (default .Values.ingress.hosts .Values.httpRoute.hostnames)) -}}
{{- else -}}
{{- include "panel.webUrl" . -}}
{{- end -}}
{{- end -}}
