{{/* Chart name, shortened to a DNS label. */}}
{{- define "flotilla-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: the release name, unless it already names the chart. */}}
{{- define "flotilla-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flotilla-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "flotilla-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flotilla-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* FLOTILLA_NAMESPACE: where the agent keeps its inventories; the release namespace unless set. */}}
{{- define "flotilla-agent.inventoryNamespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{- define "flotilla-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* True (non-empty) when credentials come from values rather than an existing Secret. */}}
{{- define "flotilla-agent.bootstrapFromValues" -}}
{{- with .Values.bootstrap -}}
{{- if or .bundle .natsCreds .hubPublicKey .agentKey -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The credentials Secret in use, as YAML: its name and, for each setting, the key holding it
(empty when absent). Values (`bootstrap`) win over `existingSecret`; the Secret the chart creates
from values uses the same key names as the defaults of `existingSecretKeys`.
*/}}
{{- define "flotilla-agent.credentials" -}}
{{- if include "flotilla-agent.bootstrapFromValues" . -}}
name: {{ printf "%s-credentials" (include "flotilla-agent.fullname" .) }}
keys:
  bootstrap: {{ ternary "bootstrap.json" "" (ne .Values.bootstrap.bundle "") | quote }}
  natsCreds: {{ ternary "nats.creds" "" (ne .Values.bootstrap.natsCreds "") | quote }}
  hubPublicKey: {{ ternary "hub-public-key.pem" "" (ne .Values.bootstrap.hubPublicKey "") | quote }}
  agentKey: {{ ternary "agent-key.pem" "" (ne .Values.bootstrap.agentKey "") | quote }}
{{- else if .Values.existingSecret -}}
name: {{ .Values.existingSecret | quote }}
keys:
  {{- toYaml .Values.existingSecretKeys | nindent 2 }}
{{- else -}}
{{- fail "flotilla-agent: set existingSecret (a Secret holding the bootstrap bundle from `flotilla cluster register`) or bootstrap.*" -}}
{{- end -}}
{{- end -}}

{{/* Fails unless the credentials give the agent a cluster, NATS URL, hub public key and agent key. */}}
{{- define "flotilla-agent.checkCredentials" -}}
{{- $keys := (include "flotilla-agent.credentials" . | fromYaml).keys -}}
{{- if not $keys.bootstrap -}}
{{- if not (and $keys.hubPublicKey $keys.agentKey) -}}
{{- fail "flotilla-agent: without a bootstrap bundle the credentials need both the hub public key and the agent key (existingSecretKeys.hubPublicKey/agentKey or bootstrap.hubPublicKey/agentKey)" -}}
{{- end -}}
{{- if not (and .Values.cluster .Values.nats.url) -}}
{{- fail "flotilla-agent: without a bootstrap bundle, set cluster and nats.url" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-agent.gitCredentialsSecretName" -}}
{{- if .Values.gitCredentials.credentials -}}
{{- printf "%s-git-credentials" (include "flotilla-agent.fullname" .) -}}
{{- else -}}
{{- .Values.gitCredentials.existingSecret -}}
{{- end -}}
{{- end -}}
