{{- define "agent.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agent.selectorLabels" -}}
app.kubernetes.io/name: castai-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agent.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{ include "agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The global value wins over the chart's own, as in the real chart. */}}
{{- define "agent.apiURL" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- $g.apiURL | default .Values.apiURL | default "" -}}
{{- end -}}

{{- define "agent.provider" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- .Values.provider | default $g.provider | default "" -}}
{{- end -}}

{{/* The Secret the containers read API_KEY from: the chart's own when apiKey is set, else the ref. */}}
{{- define "agent.keySecret" -}}
{{- if .Values.apiKey -}}
{{ include "agent.fullname" . }}
{{- else -}}
{{ .Values.apiKeySecretRef }}
{{- end -}}
{{- end -}}
