{{/* Names and labels, as `helm create` makes them. */}}
{{- define "voicehelper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "voicehelper.fullname" -}}
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

{{- define "voicehelper.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: voicehelper
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The server nodes. */}}
{{- define "voicehelper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voicehelper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* The reference assistant. */}}
{{- define "voicehelper.assistantSelectorLabels" -}}
app.kubernetes.io/name: {{ include "voicehelper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: assistant
{{- end }}

{{- define "voicehelper.secretName" -}}
{{- default (printf "%s-secrets" (include "voicehelper.fullname" .)) .Values.secret.name }}
{{- end }}

{{- define "voicehelper.assistantSecretName" -}}
{{- default (printf "%s-assistant" (include "voicehelper.fullname" .)) .Values.assistant.apiKeySecret.name }}
{{- end }}

{{- define "voicehelper.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) }}
{{- end }}

{{/*
The variables a node reads from the Secret, for the stores and features turned on, as a
JSON list (fromJsonArray). Each is required: a missing key stops the pod from starting.
*/}}
{{- define "voicehelper.secretVariables" -}}
{{- $v := .Values }}
{{- $names := list "JWT_SECRET" "METRICS_TOKEN" }}
{{- if $v.stores.postgres.enabled }}{{ $names = append $names "DATABASE_URL" }}{{ end }}
{{- if eq $v.stores.redis.mode "standalone" }}{{ $names = append $names "REDIS_URL" }}{{ end }}
{{- if eq $v.stores.redis.mode "cluster" }}{{ $names = append $names "REDIS_CLUSTER_NODES" }}{{ end }}
{{- if $v.stores.redis.lockUrls }}{{ $names = append $names "LOCK_REDIS_URLS" }}{{ end }}
{{- if and $v.stores.milvus.enabled $v.stores.milvus.token }}{{ $names = append $names "MILVUS_TOKEN" }}{{ end }}
{{- if $v.stores.neo4j.enabled }}{{ $names = append $names "NEO4J_PASSWORD" }}{{ end }}
{{- if $v.stores.s3.enabled }}{{ $names = concat $names (list "S3_ACCESS_KEY" "S3_SECRET_KEY") }}{{ end }}
{{- if $v.embeddings.apiKey }}{{ $names = append $names "EMBEDDINGS_API_KEY" }}{{ end }}
{{- if $v.backup.encrypted }}{{ $names = append $names "BACKUP_ENCRYPTION_KEY" }}{{ end }}
{{- toJson $names }}
{{- end }}

{{/*
Refuses values that would make a broken cluster: several nodes on stores that each node
keeps for itself, an unknown Redis mode, or a secret in the ConfigMap.
*/}}
{{- define "voicehelper.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.stores.redis.mode (list "standalone" "cluster" "off")) }}
{{- fail (printf "stores.redis.mode is standalone, cluster or off, not %q" $v.stores.redis.mode) }}
{{- end }}
{{- if or (gt (int $v.replicaCount) 1) $v.autoscaling.enabled }}
{{- if not $v.stores.postgres.enabled }}{{ fail "more than one node needs stores.postgres.enabled (an embedded PostgreSQL per pod splits the cluster)" }}{{ end }}
{{- if eq $v.stores.redis.mode "off" }}{{ fail "more than one node needs stores.redis.mode standalone or cluster (the in-process Redis stand-in serves one node)" }}{{ end }}
{{- if not $v.stores.s3.enabled }}{{ fail "more than one node needs stores.s3.enabled (objects in a pod's DATA_DIR are seen by that pod only)" }}{{ end }}
{{- end }}
{{- $secrets := list "JWT_SECRET" "METRICS_TOKEN" "DATABASE_URL" "REDIS_URL" "REDIS_CLUSTER_NODES" "LOCK_REDIS_URLS" "MILVUS_TOKEN" "NEO4J_PASSWORD" "S3_ACCESS_KEY" "S3_SECRET_KEY" "EMBEDDINGS_API_KEY" "BACKUP_ENCRYPTION_KEY" }}
{{- range $name, $_ := $v.config }}
{{- if has $name $secrets }}{{ fail (printf "config.%s is a secret: put it in the Secret (secret.name), not in the ConfigMap" $name) }}{{ end }}
{{- end }}
{{- range $name := list "VOICEHELPER_API_KEY" "LLM_API_KEY" }}
{{- if hasKey $v.assistant.env $name }}{{ fail (printf "assistant.env.%s is a secret: it comes from the assistant's Secret (assistant.apiKeySecret)" $name) }}{{ end }}
{{- end }}
{{- if and $v.autoscaling.enabled (lt (int $v.autoscaling.maxReplicas) (int $v.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas is below autoscaling.minReplicas" }}
{{- end }}
{{- end }}

{{/* SHUTDOWN_TIMEOUT_MS, and the grace period that covers preStop, the drain and the node's hard stop. */}}
{{- define "voicehelper.terminationGracePeriodSeconds" -}}
{{- $d := .Values.drain }}
{{- $drainSeconds := div (add (int $d.shutdownTimeoutMs) 999) 1000 }}
{{- add (int $d.preStopSeconds) $drainSeconds 5 (int $d.marginSeconds) }}
{{- end }}

{{- define "voicehelper.publicUrl" -}}
{{- if .Values.publicUrl }}
{{- .Values.publicUrl }}
{{- else if .Values.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- end }}
{{- end }}
