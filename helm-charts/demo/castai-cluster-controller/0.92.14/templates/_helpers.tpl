{{- define "cc.name" -}}castai-cluster-controller{{- end -}}

{{- define "cc.selectorLabels" -}}
app.kubernetes.io/name: castai-cluster-controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cc.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{ include "cc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with (.Values.global.commonLabels) }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "cc.apiKey" -}}
{{- .Values.castai.apiKey | default .Values.apiKey -}}
{{- end -}}

{{- define "cc.apiURL" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- $g.apiURL | default .Values.castai.apiURL | default .Values.apiURL | default "https://api.cast.ai" -}}
{{- end -}}

{{- define "cc.clusterID" -}}
{{- .Values.castai.clusterID | default .Values.clusterID -}}
{{- end -}}

{{/* The Secret holding API_KEY: the chart's own (hard-coded name) or the ref. */}}
{{- define "cc.keySecret" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- $ref := .Values.castai.apiKeySecretRef | default $g.apiKeySecretRef -}}
{{- $key := include "cc.apiKey" . -}}
{{- if and $key $ref -}}
{{- fail "castai.apiKey and castai.apiKeySecretRef cannot be set together" -}}
{{- else if $key -}}
castai-cluster-controller
{{- else if $ref -}}
{{ $ref }}
{{- else if not .Values.envFrom -}}
{{- fail "castai.apiKey or castai.apiKeySecretRef must be provided" -}}
{{- end -}}
{{- end -}}
