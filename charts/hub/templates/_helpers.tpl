{{/* Chart name, shortened to a DNS label. */}}
{{- define "flotilla-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object name prefix: the release name, unless it already names the chart. */}}
{{- define "flotilla-hub.fullname" -}}
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

{{- define "flotilla-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flotilla-hub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: hub
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "flotilla-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flotilla-hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-hub.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The HTTP port: the port part of hub.listen (FLOTILLA_HUB_LISTEN). */}}
{{- define "flotilla-hub.port" -}}
{{- splitList ":" .Values.hub.listen | last -}}
{{- end -}}

{{/*
The Secret in use, as YAML: its name and, for each secret setting, the key holding it (empty
when absent). With existingSecret the keys are existingSecretKeys; otherwise the chart's own
Secret holds the admin and encryption keys (generated when not given) and whatever else is set.
*/}}
{{- define "flotilla-hub.secret" -}}
{{- if .Values.existingSecret -}}
name: {{ .Values.existingSecret | quote }}
keys:
  {{- toYaml .Values.existingSecretKeys | nindent 2 }}
{{- else -}}
name: {{ include "flotilla-hub.fullname" . | quote }}
keys:
  adminToken: admin-token
  encryptionKey: encryption-key
  signingKey: {{ ternary "signing-key.pem" "" (ne .Values.hub.signingKey "") | quote }}
  operatorSetup: {{ ternary "operator-setup.json" "" (ne .Values.hub.operatorSetup "") | quote }}
  natsCreds: {{ ternary "nats.creds" "" (ne .Values.nats.creds "") | quote }}
  metricsToken: {{ ternary "metrics-token" "" (ne .Values.hub.metricsToken "") | quote }}
{{- end -}}
{{- end -}}
