{{- define "evictor.selectorLabels" -}}
app.kubernetes.io/name: castai-evictor
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "evictor.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{ include "evictor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The Secret holding API_KEY: the ref, the global ref, else cluster-controller's Secret. */}}
{{- define "evictor.keySecret" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- .Values.apiKeySecretRef | default $g.apiKeySecretRef | default "castai-cluster-controller" -}}
{{- end -}}
