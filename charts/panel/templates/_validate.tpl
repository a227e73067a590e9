{{/*
panel.validate: fails the render with one message per mistake, saying what to change. Called once,
from templates/shared/configmap.yaml (which every install renders).
*/}}
{{- define "panel.validate" -}}
{{- $v := .Values -}}
{{- $errors := list -}}
{{- if eq $v.postgresql.enabled $v.externalDatabase.enabled -}}
{{- $errors = append $errors "database: enable exactly one of postgresql.enabled (bundled, for development) and externalDatabase.enabled (production, URL in secrets.database)" -}}
{{- end -}}
{{- if eq $v.redis.enabled $v.externalRedis.enabled -}}
{{- $errors = append $errors "redis: enable exactly one of redis.enabled (bundled, for development) and externalRedis.enabled (production, URL in secrets.redis)" -}}
{{- end -}}
{{- if and $v.externalDatabase.enabled (not $v.secrets.database.existingSecret) (not $v.secrets.database.url) -}}
{{- $errors = append $errors "database: externalDatabase.enabled needs secrets.database.url or secrets.database.existingSecret (key database-url)" -}}
{{- end -}}
{{- if and $v.postgresql.enabled (not $v.secrets.database.existingSecret) (not $v.postgresql.auth.password) -}}
{{- $errors = append $errors "database: the bundled PostgreSQL needs postgresql.auth.password or secrets.database.existingSecret (keys password, database-url); the chart never generates passwords" -}}
{{- end -}}
{{- if and $v.externalRedis.enabled (not $v.secrets.redis.existingSecret) (not $v.secrets.redis.url) -}}
{{- $errors = append $errors "redis: externalRedis.enabled needs secrets.redis.url or secrets.redis.existingSecret (key redis-url)" -}}
{{- end -}}
{{- if and $v.redis.enabled (not $v.secrets.redis.existingSecret) (not $v.redis.auth.password) -}}
{{- $errors = append $errors "redis: the bundled Redis needs redis.auth.password or secrets.redis.existingSecret (keys password, redis-url); the chart never generates passwords" -}}
{{- end -}}
{{- $app := $v.secrets.app -}}
{{- if not $app.existingSecret -}}
{{- if not (and $app.secretKey $app.jwtSecret) -}}
{{- $errors = append $errors "secrets.app: set secrets.app.secretKey and secrets.app.jwtSecret (32+ random characters each, e.g. `openssl rand -hex 32`) or secrets.app.existingSecret (keys secret-key, jwt-secret)" -}}
{{- else if and (eq $v.config.environment "production") (or (lt (len $app.secretKey) 32) (lt (len $app.jwtSecret) 32)) -}}
{{- $errors = append $errors "secrets.app: secretKey and jwtSecret must be at least 32 characters in production (e.g. `openssl rand -hex 32`)" -}}
{{- end -}}
{{- end -}}
{{- $uploads := $v.persistence.uploads -}}
{{- if $uploads.enabled -}}
{{- $modes := join "," $uploads.accessModes -}}
{{- if not (or (has "ReadWriteOnce" $uploads.accessModes) (has "ReadWriteOncePod" $uploads.accessModes) (has "ReadWriteMany" $uploads.accessModes)) -}}
{{- $errors = append $errors (printf "persistence.uploads: accessModes [%s] cannot be written, but web stores uploads there; use [ReadWriteMany] (several web replicas) or [ReadWriteOnce] (one)" $modes) -}}
{{- else if and (not (has "ReadWriteMany" $uploads.accessModes)) (or $v.web.autoscaling.enabled (gt (int $v.web.replicaCount) 1)) -}}
{{- /* ReadWriteOnce allows one node, ReadWriteOncePod one pod: either way web cannot run several replicas. */ -}}
{{- $errors = append $errors (printf "persistence.uploads: a [%s] volume is mounted by one node (ReadWriteOnce) or one pod (ReadWriteOncePod) only, but web runs several replicas; set persistence.uploads.accessModes=[ReadWriteMany] (needs an RWX storage class), or web.replicaCount=1 with web.autoscaling.enabled=false" $modes) -}}
{{- end -}}
{{- if and (has "ReadWriteOncePod" $uploads.accessModes) (not (has "ReadWriteMany" $uploads.accessModes)) $v.backup.enabled $v.backup.jobs.files.enabled -}}
{{- $errors = append $errors "persistence.uploads: a ReadWriteOncePod volume is mounted by the web pod alone, so the files backup could never read it; use accessModes=[ReadWriteOnce] (the files backup then runs on web's node) or [ReadWriteMany], or set backup.jobs.files.enabled=false" -}}
{{- end -}}
{{- end -}}
{{- if $v.backup.enabled -}}
{{- if not (include "panel.secret.enabled" (dict "ctx" . "credential" "backupEncryption")) -}}
{{- $errors = append $errors "backup: backups are encrypted; set secrets.backupEncryption.recipients (age public keys) or secrets.backupEncryption.existingSecret (key recipients), or backup.enabled=false" -}}
{{- end -}}
{{- if and $v.backup.jobs.drill.enabled (not $v.secrets.backupEncryption.existingSecret) (not $v.secrets.backupEncryption.identity) -}}
{{- $errors = append $errors "backup: the restore drill decrypts backups; set secrets.backupEncryption.identity or use an existingSecret with key identity, or backup.jobs.drill.enabled=false" -}}
{{- end -}}
{{- if not (regexMatch "^(s3|file)://" $v.backup.target) -}}
{{- $errors = append $errors (printf "backup.target: %q is neither s3://bucket/prefix nor file:///path" $v.backup.target) -}}
{{- end -}}
{{- $keep := $v.backup.retention -}}
{{- if not (or $keep.last $keep.daily $keep.weekly $keep.monthly) -}}
{{- $errors = append $errors "backup.retention: every rule is 0, so prune would keep nothing (the backups refuse to run); keep at least one above 0, e.g. backup.retention.daily=7" -}}
{{- end -}}
{{- if and $v.backup.smtp.username (not (include "panel.secret.enabled" (dict "ctx" . "credential" "smtp"))) -}}
{{- $errors = append $errors "backup.smtp: username is set but no password; set secrets.smtp.password or secrets.smtp.existingSecret (key password)" -}}
{{- end -}}
{{- end -}}
{{- $c := $v.config -}}
{{- if and (eq (int $c.trustedProxies) 0) (or $v.ingress.enabled $v.httpRoute.enabled) -}}
{{- $errors = append $errors (printf "config.trustedProxies: 0, but web is behind %s: every client would look like the proxy, and %v failed sign-ins from anyone would lock out everyone (config.login.addressLimit); set 1, or the number of proxies in front of web" (ternary "the ingress (ingress.enabled)" "a Gateway (httpRoute.enabled)" $v.ingress.enabled) $c.login.addressLimit) -}}
{{- else if and (eq (int $c.trustedProxies) 0) $c.trustedProxyNetworks -}}
{{- $errors = append $errors "config.trustedProxyNetworks: unused while config.trustedProxies is 0 (no proxy in front of web); set the number of proxies or remove the networks" -}}
{{- end -}}
{{- if and $v.worker.enabled (ge (float64 $c.checks.timeoutSeconds) (float64 $v.worker.terminationGracePeriodSeconds)) -}}
{{- $errors = append $errors (printf "config.checks.timeoutSeconds: %v is not below worker.terminationGracePeriodSeconds (%v), so a stopping worker would be killed mid-probe; shorten the timeout or lengthen the grace period" $c.checks.timeoutSeconds $v.worker.terminationGracePeriodSeconds) -}}
{{- end -}}
{{- $notify := $v.notifications.smtp -}}
{{- $notifyPassword := include "panel.secret.enabled" (dict "ctx" . "credential" "notificationSmtp") -}}
{{- if and $notify.host (not $notify.from) -}}
{{- $errors = append $errors "notifications.smtp: set notifications.smtp.from, the sender address (e.g. panel@example.com); mail servers refuse the app's default panel@localhost" -}}
{{- end -}}
{{- if and (or $notify.username $notifyPassword) (not $notify.host) -}}
{{- $errors = append $errors "notifications.smtp: a username or password without notifications.smtp.host is never used; set the host (the mail server) or remove them" -}}
{{- else if and $notify.username (not $notifyPassword) -}}
{{- $errors = append $errors "notifications.smtp: username is set but no password; set secrets.notificationSmtp.password or secrets.notificationSmtp.existingSecret (key password)" -}}
{{- else if and $notifyPassword (not $notify.username) -}}
{{- $errors = append $errors "secrets.notificationSmtp: the worker only logs in with notifications.smtp.username; set it, or remove the password" -}}
{{- end -}}
{{- range $i, $hook := $v.networkPolicy.notifications.webhooks -}}
{{- if $hook.url -}}
{{- $host := (include "panel.np.urlServer" $hook.url | fromYaml).host -}}
{{- if and (eq (include "panel.np.hostPeer" $host) "cidrs") (not $hook.cidrs) -}}
{{- /* A rule without peers would allow every address: ask where the host is instead. */ -}}
{{- $errors = append $errors (printf "networkPolicy.notifications.webhooks[%d]: %s is not an in-cluster Service name, and NetworkPolicies cannot name hosts; add cidrs where it is (e.g. [203.0.113.0/24])" $i $host) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $oauth := $v.secrets.oauth -}}
{{- if and (eq $oauth.provider "google") (not $oauth.existingSecret) (not (and $oauth.googleClientId $oauth.googleClientSecret)) -}}
{{- $errors = append $errors "secrets.oauth: provider google needs googleClientId and googleClientSecret, or an existingSecret (keys google-client-id, google-client-secret)" -}}
{{- end -}}
{{- if and (eq $oauth.provider "oidc") (not $oauth.existingSecret) (not (and $oauth.oidcClientId $oauth.oidcClientSecret)) -}}
{{- $errors = append $errors "secrets.oauth: provider oidc needs oidcClientId and oidcClientSecret, or an existingSecret (keys oidc-client-id, oidc-client-secret)" -}}
{{- end -}}
{{- if and (eq $oauth.provider "oidc") (not $v.config.oidcIssuerUrl) -}}
{{- $errors = append $errors "secrets.oauth: provider oidc needs config.oidcIssuerUrl" -}}
{{- end -}}
{{- if and $v.loadtest.enabled (not (include "panel.secret.enabled" (dict "ctx" . "credential" "loadtest"))) -}}
{{- $errors = append $errors "loadtest: set secrets.loadtest.password (of the admin account loadtest.username), or secrets.loadtest.existingSecret (key password)" -}}
{{- end -}}
{{- $cm := $v.ingress.certManager -}}
{{- if and $cm.issuer $cm.clusterIssuer -}}
{{- $errors = append $errors "ingress.certManager: set issuer or clusterIssuer, not both" -}}
{{- end -}}
{{- if and $cm.certificate.enabled (not (or $cm.issuer $cm.clusterIssuer)) -}}
{{- $errors = append $errors "ingress.certManager.certificate: a Certificate needs ingress.certManager.issuer or ingress.certManager.clusterIssuer" -}}
{{- end -}}
{{- if and $cm.certificate.enabled (not (and $v.ingress.enabled $v.ingress.tls.enabled)) -}}
{{- $errors = append $errors "ingress.certManager.certificate: a Certificate needs ingress.enabled=true and ingress.tls.enabled=true" -}}
{{- end -}}
{{- if and $v.ingress.enabled (not $v.ingress.hosts) -}}
{{- $errors = append $errors "ingress: ingress.enabled needs at least one host in ingress.hosts" -}}
{{- end -}}
{{- if and $v.httpRoute.enabled (not $v.httpRoute.parentRefs) -}}
{{- $errors = append $errors "httpRoute: an HTTPRoute attaches to a Gateway; set httpRoute.parentRefs, e.g. [{name: public, namespace: gateways}]" -}}
{{- end -}}
{{- if and (eq $v.healthcheck.mode "sidecar") (not $v.healthcheck.enabled) -}}
{{- $errors = append $errors "healthcheck: mode sidecar needs healthcheck.enabled=true" -}}
{{- end -}}
{{- range $component := list "web" "worker" -}}
{{- $a := (index $v $component).autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- $errors = append $errors (printf "%s.autoscaling: minReplicas (%v) is above maxReplicas (%v); raise maxReplicas or lower minReplicas" $component $a.minReplicas $a.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- $wa := $v.web.autoscaling -}}
{{- if and $wa.enabled (not (or $wa.targetCPUUtilizationPercentage $wa.targetMemoryUtilizationPercentage $wa.metrics)) -}}
{{- $errors = append $errors "web.autoscaling: no metric to scale on; set targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage or metrics, or web.autoscaling.enabled=false" -}}
{{- end -}}
{{- $ka := $v.worker.autoscaling -}}
{{- $queue := $ka.queueLength -}}
{{- if and $queue.enabled (not $ka.enabled) -}}
{{- $errors = append $errors "worker.autoscaling.queueLength: queue-length scaling is part of autoscaling; set worker.autoscaling.enabled=true" -}}
{{- end -}}
{{- if and $ka.enabled (not (or $ka.targetCPUUtilizationPercentage $ka.metrics $queue.enabled)) -}}
{{- $errors = append $errors "worker.autoscaling: no metric to scale on; set queueLength.enabled=true, targetCPUUtilizationPercentage or metrics, or worker.autoscaling.enabled=false" -}}
{{- end -}}
{{- if and $ka.enabled $queue.enabled (not $v.healthcheck.enabled) -}}
{{- $errors = append $errors "worker.autoscaling.queueLength: the health exporter measures the queue; set healthcheck.enabled=true (and let Prometheus scrape it: metrics.serviceMonitor.enabled)" -}}
{{- end -}}
{{- if and $ka.enabled $queue.enabled (not $queue.queues) -}}
{{- $errors = append $errors "worker.autoscaling.queueLength.queues: name at least one RQ queue (the exporter's rq.queues, e.g. panel-high and panel)" -}}
{{- end -}}
{{- if and $ka.enabled $queue.enabled $v.healthcheck.enabled -}}
{{- /* The autoscaler reads what the exporter measures: a queue it does not watch has no metric, so the workers would never scale on it. */ -}}
{{- $rq := $v.healthcheck.config.rq | default dict -}}
{{- $measured := $rq.queues | default (list "panel-high" "panel") -}}
{{- if eq (toString (dig "enabled" true $rq)) "false" -}}
{{- $errors = append $errors "worker.autoscaling.queueLength: the exporter's RQ check is off (healthcheck.config.rq.enabled=false), so no queue length is measured; turn it on or scale on CPU (queueLength.enabled=false)" -}}
{{- else -}}
{{- $unmeasured := $queue.queues -}}
{{- range $measured }}{{ $unmeasured = without $unmeasured . }}{{ end -}}
{{- with $unmeasured -}}
{{- $errors = append $errors (printf "worker.autoscaling.queueLength.queues: %s not measured by the exporter (healthcheck.config.rq.queues: [%s]); add it there or remove it here" (join ", " .) (join ", " $measured)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq (include "panel.worker.autoscaler" .) "keda") $ka.metrics -}}
{{- $errors = append $errors "worker.autoscaling.metrics: KEDA makes the workers' HPA from its triggers, so HPA metrics cannot be added; leave metrics empty or set queueLength.provider=hpa" -}}
{{- end -}}
{{- if has (int $v.metrics.port) (list 8000 9117) -}}
{{- $errors = append $errors (printf "metrics.port: %v is taken (8000 is the app port, 9117 the exporter's); pick another, e.g. 9102, or 0 for no metrics listener" $v.metrics.port) -}}
{{- end -}}
{{- $ws := $v.web.service -}}
{{- if and $ws.loadBalancerSourceRanges (ne $ws.type "LoadBalancer") -}}
{{- $errors = append $errors (printf "web.service.loadBalancerSourceRanges: only a LoadBalancer Service takes them, this one is %s; set web.service.type=LoadBalancer or remove them" $ws.type) -}}
{{- end -}}
{{- if and (eq $ws.type "ClusterIP") (or $ws.externalTrafficPolicy $ws.nodePorts.http) -}}
{{- $errors = append $errors "web.service: externalTrafficPolicy and nodePorts apply to NodePort and LoadBalancer Services; set web.service.type or remove them" -}}
{{- end -}}
{{- $zones := include "panel.validate.timeZones" . | splitList "\n" -}}
{{- $scheduled := dict "backup.timeZone" (ternary $v.backup.timeZone "" $v.backup.enabled) "loadtest.scheduled.timeZone" (ternary $v.loadtest.scheduled.timeZone "" (and $v.loadtest.enabled $v.loadtest.scheduled.enabled)) -}}
{{- range $key := keys $scheduled | sortAlpha -}}
{{- $zone := index $scheduled $key -}}
{{- if and $zone (not (has $zone $zones)) -}}
{{- $errors = append $errors (printf "%s: %q is not an IANA time zone name; use one such as Etc/UTC or Europe/Berlin (the list: https://en.wikipedia.org/wiki/List_of_tz_database_time_zones)" $key $zone) -}}
{{- end -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nThe Panel chart cannot render these values:\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
