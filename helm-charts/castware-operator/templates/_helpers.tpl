{{/* Chart name (app.kubernetes.io/name): "castware-operator" unless nameOverride is set. */}}
{{- define "castware-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Base name of every object: the release name (or fullnameOverride), so the default release
"castware-operator" gives the names the docs use (castware-operator, castware-operator-crd-upgrade).
Truncated so "<fullname>-crd-upgrade" and the other suffixes stay within 63 characters.
*/}}
{{- define "castware-operator.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- end }}

{{- define "castware-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "castware-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "castware-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "castware-operator.labels" -}}
helm.sh/chart: {{ include "castware-operator.chart" . }}
{{ include "castware-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: castware-operator
{{- end }}

{{- define "castware-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "castware-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository@digest when a digest is pinned, else repository:tag, the tag
defaulting to the chart's appVersion. */}}
{{- define "castware-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The API-key Secret the Cluster and the components read. */}}
{{- define "castware-operator.apiKeySecretName" -}}
{{- default .Values.apiKeySecret.name .Values.defaultCluster.apiKeySecret }}
{{- end }}

{{/*
Pod settings shared by the operator and its hook Jobs: image pull secrets, scheduling and the pod
security context (hook Jobs used to ignore nodeSelector and tolerations in the documented operator).
*/}}
{{- define "castware-operator.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A hook Job running one subcommand of the operator binary. No probes (the documented operator's
probes killed its upgrade Job mid-run), bounded by activeDeadlineSeconds, never restarted in place.
Arguments: dict "root" $ "name" <job name> "serviceAccount" <sa> "args" <list> "volumes"/"mounts" (optional).
*/}}
{{- define "castware-operator.hookJob" -}}
{{- $root := .root -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "castware-operator.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: {{ .weight | quote }}
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ .backoffLimit | default 1 }}
  activeDeadlineSeconds: {{ $root.Values.hooks.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ include "castware-operator.name" $root }}-hook
        app.kubernetes.io/instance: {{ $root.Release.Name }}
        app.kubernetes.io/component: {{ .component }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ .serviceAccount }}
      {{- include "castware-operator.podScheduling" $root | trim | nindent 6 }}
      containers:
        - name: {{ .component }}
          image: {{ include "castware-operator.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          {{- with $root.Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml $root.Values.hooks.resources | nindent 12 }}
          {{- with .mounts }}
          volumeMounts:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .volumes }}
      volumes:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
Admission webhooks (templates/webhook.yaml, the generated templates/webhook-configurations.yaml). Names
derive from the release and are passed to the operator as environment variables.
*/}}
{{- define "castware-operator.webhookService" -}}
{{ include "castware-operator.fullname" . }}-webhook-service
{{- end }}

{{/* The Secret holding the serving certificate: written by the operator, or by cert-manager in certManager mode. */}}
{{- define "castware-operator.webhookSecret" -}}
{{- if eq .Values.webhook.certMode "certManager" -}}
{{ include "castware-operator.fullname" . }}-webhook-serving-cert
{{- else -}}
{{ include "castware-operator.fullname" . }}-webhook-certs
{{- end }}
{{- end }}

{{/* Where the API server calls a webhook: the webhook Service, or webhook.url (an operator run outside the cluster). */}}
{{- define "castware-operator.webhookClientConfig" -}}
{{- if .root.Values.webhook.url -}}
url: {{ printf "%s%s" (trimSuffix "/" .root.Values.webhook.url) .path | quote }}
{{- else -}}
service:
  name: {{ include "castware-operator.webhookService" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: 443
{{- end }}
{{- end }}

{{/* Annotations of the webhook configurations: cert-manager's CA injection in certManager mode (never a caBundle in the template). */}}
{{- define "castware-operator.webhookAnnotations" -}}
{{- if eq .Values.webhook.certMode "certManager" -}}
annotations:
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "castware-operator.webhookSecret" . }}
{{- end }}
{{- end }}

{{/* The Secret holding the metrics endpoint's certificate ("" when the operator serves a self-signed one). */}}
{{- define "castware-operator.metricsCert" -}}
{{- if and .Values.metrics.enabled .Values.metrics.secure }}{{ .Values.metrics.certSecret }}{{ end }}
{{- end }}

{{/* Labels of the metrics Service, which the ServiceMonitor selects it by. */}}
{{- define "castware-operator.metricsSelectorLabels" -}}
{{ include "castware-operator.selectorLabels" . }}
app.kubernetes.io/component: metrics
{{- end }}

{{/* The metrics Service's port name and scheme: https when metrics.secure, else http. */}}
{{- define "castware-operator.metricsScheme" -}}
{{- if .Values.metrics.secure }}https{{ else }}http{{ end }}
{{- end }}
