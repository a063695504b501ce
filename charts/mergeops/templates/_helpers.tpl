{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "mergeops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters. The release name is used as is when
it already contains the chart name.
*/}}
{{- define "mergeops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a component's objects: <fullname>-<component>, at most 63 characters.
Usage: include "mergeops.componentName" (dict "ctx" $ "component" "web")
*/}}
{{- define "mergeops.componentName" -}}
{{- printf "%s-%s" (include "mergeops.fullname" .ctx | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component }}
{{- end }}

{{- define "mergeops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels. Usage: include "mergeops.selectorLabels" (dict "ctx" $ "component" "web");
component may be empty for objects shared by the whole release.
*/}}
{{- define "mergeops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mergeops.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/*
Standard labels. Usage: include "mergeops.labels" (dict "ctx" $ "component" "web");
"version" overrides the app version (the bundled Redis labels its own).
*/}}
{{- define "mergeops.labels" -}}
helm.sh/chart: {{ include "mergeops.chart" .ctx }}
{{ include "mergeops.selectorLabels" . }}
app.kubernetes.io/version: {{ .version | default .ctx.Chart.AppVersion | toString | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: mergeops
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mergeops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mergeops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mergeops.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "mergeops.githubSecretName" -}}
{{- default (printf "%s-github" (include "mergeops.fullname" .)) .Values.github.existingSecret }}
{{- end }}

{{- define "mergeops.redisName" -}}
{{- include "mergeops.componentName" (dict "ctx" . "component" "redis") }}
{{- end }}

{{/*
The Secret holding the bundled Redis' password, and its key.
*/}}
{{- define "mergeops.redisAuthSecret" -}}
{{- default (include "mergeops.componentName" (dict "ctx" . "component" "redis-auth")) .Values.redis.bundled.auth.existingSecret }}
{{- end }}

{{- define "mergeops.redisAuthKey" -}}
{{- if .Values.redis.bundled.auth.existingSecret }}{{ .Values.redis.bundled.auth.existingSecretKey }}{{ else }}password{{ end }}
{{- end }}

{{/*
REDIS_PASSWORD from the bundled Redis' Secret; REDIS_URL (after it) refers to it.
*/}}
{{- define "mergeops.redisPasswordEnv" -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mergeops.redisAuthSecret" . }}
      key: {{ include "mergeops.redisAuthKey" . }}
{{- end }}

{{/*
Where the clusters file comes from: "secret", "configMap" or "" (none: no policy).
*/}}
{{- define "mergeops.clustersSource" -}}
{{- if .Values.clustersSecret }}secret{{ else if .Values.clusters }}configMap{{ end }}
{{- end }}

{{- define "mergeops.clustersConfigMapName" -}}
{{- include "mergeops.componentName" (dict "ctx" . "component" "clusters") }}
{{- end }}

{{- define "mergeops.clustersDir" -}}/etc/mergeops/clusters{{- end }}

{{/*
The CA bundle of an external Sentinel group or Cluster, mounted from redis.tls.caSecret: "true" or "".
*/}}
{{- define "mergeops.redisCa" -}}
{{- $r := .Values.redis }}{{ if and $r.tls.enabled $r.tls.caSecret (or $r.sentinel.hosts $r.cluster.nodes) }}true{{ end }}
{{- end }}

{{- define "mergeops.redisCaDir" -}}/etc/mergeops/redis-ca{{- end }}

{{/*
Environment shared by web and worker. Usage:
include "mergeops.env" (dict "ctx" $ "mode" "web" "extra" .Values.web.extraEnv)
*/}}
{{- define "mergeops.env" -}}
{{- $ctx := .ctx }}
{{- $reserved := list "MERGEOPS_MODE" "PORT" "REDIS_URL" "REDIS_PASSWORD" "REDIS_SENTINELS" "REDIS_SENTINEL_NAME" "REDIS_SENTINEL_PASSWORD" "REDIS_CLUSTER_NODES" "REDIS_USERNAME" "REDIS_TLS" "REDIS_TLS_CA_FILE" "MERGEOPS_CLUSTERS" "APP_ID" "PRIVATE_KEY" "PRIVATE_KEY_PATH" "WEBHOOK_SECRET" -}}
- name: MERGEOPS_MODE
  value: {{ .mode }}
- name: PORT
  value: "3000"
{{- $secret := include "mergeops.githubSecretName" $ctx }}
{{- range $key := list "APP_ID" "PRIVATE_KEY" "WEBHOOK_SECRET" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- $r := $ctx.Values.redis }}
{{- if and $r.sentinel.hosts $r.cluster.nodes }}
{{- fail "set redis.sentinel.hosts or redis.cluster.nodes, not both" }}
{{- end }}
{{- if and $r.bundled.enabled (or $r.sentinel.hosts $r.cluster.nodes) }}
{{- fail "redis.bundled.enabled runs a single Redis; unset it to use redis.sentinel or redis.cluster" }}
{{- end }}
{{- if or $r.sentinel.hosts $r.cluster.nodes }}
{{- if $r.sentinel.hosts }}
- name: REDIS_SENTINELS
  value: {{ join "," $r.sentinel.hosts | quote }}
- name: REDIS_SENTINEL_NAME
  value: {{ required "redis.sentinel.masterName: the master name the sentinels monitor (sentinel monitor <name> ...)" $r.sentinel.masterName | quote }}
{{- else }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," $r.cluster.nodes | quote }}
{{- end }}
{{- with $r.auth.existingSecret }}
{{- if $r.auth.passwordKey }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $r.auth.passwordKey }}
{{- end }}
{{- if and $r.auth.sentinelPasswordKey $r.sentinel.hosts }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $r.auth.sentinelPasswordKey }}
{{- end }}
{{- end }}
{{- if $r.tls.enabled }}
- name: REDIS_TLS
  value: "true"
{{- if $r.tls.caSecret }}
- name: REDIS_TLS_CA_FILE
  value: {{ printf "%s/%s" (include "mergeops.redisCaDir" $ctx) $r.tls.caSecretKey | quote }}
{{- end }}
{{- end }}
{{- else if $ctx.Values.redis.bundled.enabled }}
{{ include "mergeops.redisPasswordEnv" $ctx }}
- name: REDIS_URL
  # The kubelet puts the password in: it never appears in the pod spec.
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379" (include "mergeops.redisName" $ctx) | quote }}
{{- else if $ctx.Values.redis.existingSecret }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $ctx.Values.redis.existingSecret }}
      key: {{ $ctx.Values.redis.existingSecretKey }}
{{- else }}
- name: REDIS_URL
  value: {{ required "set redis.url, redis.existingSecret or redis.bundled.enabled" $ctx.Values.redis.url | quote }}
{{- end }}
{{- $source := include "mergeops.clustersSource" $ctx }}
{{- if $source }}
- name: MERGEOPS_CLUSTERS
  value: {{ printf "%s/%s" (include "mergeops.clustersDir" $ctx) (ternary $ctx.Values.clustersSecretKey "clusters.yaml" (eq $source "secret")) | quote }}
{{- end }}
{{- range $name, $value := $ctx.Values.env }}
{{- if has $name $reserved }}
{{- fail (printf "env.%s is set by the chart; use the chart's own values for it" $name) }}
{{- end }}
{{- if kindIs "float64" $value }}
{{- /* Numbers from YAML files arrive as float64; print whole ones without an exponent. */}}
{{- if eq $value (float64 (int64 $value)) }}{{ $value = int64 $value }}{{ end }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- with $ctx.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Volumes shared by web and worker. Usage: include "mergeops.volumes" (dict "ctx" $ "tmpSizeLimit" "64Mi" "tmpMedium" "")
*/}}
{{- define "mergeops.volumes" -}}
{{- $ctx := .ctx -}}
- name: tmp
  emptyDir:
    {{- with .tmpMedium }}
    medium: {{ . }}
    {{- end }}
    {{- with .tmpSizeLimit }}
    sizeLimit: {{ . }}
    {{- end }}
{{- $source := include "mergeops.clustersSource" $ctx }}
{{- if eq $source "secret" }}
- name: clusters
  secret:
    secretName: {{ $ctx.Values.clustersSecret }}
{{- else if eq $source "configMap" }}
- name: clusters
  configMap:
    name: {{ include "mergeops.clustersConfigMapName" $ctx }}
{{- end }}
{{- if include "mergeops.redisCa" $ctx }}
- name: redis-ca
  secret:
    secretName: {{ $ctx.Values.redis.tls.caSecret }}
{{- end }}
{{- with $ctx.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mergeops.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "mergeops.clustersSource" . }}
- name: clusters
  mountPath: {{ include "mergeops.clustersDir" . }}
  readOnly: true
{{- end }}
{{- if include "mergeops.redisCa" . }}
- name: redis-ca
  mountPath: {{ include "mergeops.redisCaDir" . }}
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod template annotations: roll the pods when the rendered clusters file changes.
*/}}
{{- define "mergeops.podAnnotations" -}}
{{- $annotations := deepCopy (.Values.podAnnotations | default dict) }}
{{- if eq (include "mergeops.clustersSource" .) "configMap" }}
{{- $_ := set $annotations "checksum/clusters" (include (print .Template.BasePath "/configmap-clusters.yaml") . | sha256sum) }}
{{- end }}
{{- with $annotations }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
Scheduling fields shared by web and worker.
*/}}
{{- define "mergeops.scheduling" -}}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
topologySpreadConstraints of one component; a constraint without a labelSelector gets
the component's selector labels. Usage:
include "mergeops.topologySpread" (dict "ctx" $ "component" "web" "constraints" .Values.web.topologySpreadConstraints)
*/}}
{{- define "mergeops.topologySpread" -}}
{{- if .constraints }}
{{- $selector := include "mergeops.selectorLabels" . | fromYaml -}}
topologySpreadConstraints:
{{- range .constraints }}
{{- $c := deepCopy . }}
{{- if not $c.labelSelector }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" $selector) }}
{{- end }}
  - {{ toYaml $c | nindent 4 | trim }}
{{- end }}
{{- end }}
{{- end }}
