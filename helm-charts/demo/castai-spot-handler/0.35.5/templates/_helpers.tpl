{{- define "spot.fullname" -}}
{{- default .Chart.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spot.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/name: castai-spot-handler
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "spot.apiURL" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- $g.apiURL | default .Values.castai.apiURL | default "" -}}
{{- end -}}

{{- define "spot.keyRef" -}}
{{- $g := (.Values.global.castai | default dict) -}}
{{- .Values.apiKeySecretRef | default $g.apiKeySecretRef | default "" -}}
{{- end -}}

{{/* The Secret holding API_KEY: the chart's own, the ref, or cluster-controller's shared Secret. */}}
{{- define "spot.keySecret" -}}
{{- $ref := include "spot.keyRef" . -}}
{{- if and .Values.castai.apiKey $ref -}}
{{- fail "castai.apiKey and apiKeySecretRef cannot be set together" -}}
{{- end -}}
{{- if .Values.castai.apiKey -}}
{{ include "spot.fullname" . }}
{{- else if $ref -}}
{{ $ref }}
{{- else -}}
castai-cluster-controller
{{- end -}}
{{- end -}}

{{- define "spot.cloud" -}}
{{- $p := .Values.castai.provider | default "" | lower -}}
{{- $clouds := dict "aws" "aws" "eks" "aws" "gcp" "gcp" "gke" "gcp" "azure" "azure" "aks" "azure" -}}
{{- if not $p -}}
{{- fail "castai.provider must be provided (aws, gcp or azure)" -}}
{{- end -}}
{{- if not (hasKey $clouds $p) -}}
{{- fail (printf "castai.provider %q is not supported: use aws, gcp or azure" $p) -}}
{{- end -}}
{{- get $clouds $p -}}
{{- end -}}
