{{/* The release's name for everything it creates, e.g. "cowork" or "town-cowork". */}}
{{- define "cowork.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 55 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 55 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Helpers below take (dict "root" $ "name" <service> "svc" <its values>). */}}
{{- define "cowork.serviceFullname" -}}
{{- printf "%s-%s" (include "cowork.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cowork.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "cowork.labels" -}}
{{ include "cowork.selectorLabels" . }}
app.kubernetes.io/component: {{ .name }}
app.kubernetes.io/part-of: cowork
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "cowork.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The service's settings as its pydantic-settings class reads them: `<SERVICE>_*` for its own,
`COWORK_*` for those every service shares (shared/src/cowork/shared/settings.py). Secrets come
from existing Secrets only.
*/}}
{{- define "cowork.env" -}}
{{- $prefix := upper .name -}}
- name: {{ $prefix }}_HTTP_HOST
  value: "0.0.0.0"
- name: {{ $prefix }}_HTTP_PORT
  value: {{ .svc.port | quote }}
- name: {{ $prefix }}_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required" .root.Values.kafka.bootstrap | quote }}
- name: {{ $prefix }}_LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: {{ $prefix }}_LOG_JSON
  value: "true"
- name: {{ $prefix }}_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.database.existingSecret is required" .name) .svc.database.existingSecret }}
      key: {{ .svc.database.key }}
- name: COWORK_TOPIC_PREFIX
  value: {{ .root.Values.topicPrefix | quote }}
- name: COWORK_JWT_ISSUER
  value: {{ .root.Values.jwt.issuer | quote }}
- name: COWORK_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "jwt.existingSecret is required" .root.Values.jwt.existingSecret }}
      key: {{ .root.Values.jwt.key }}
- name: COWORK_TOPIC_PARTITIONS
  value: {{ .root.Values.topics.partitions | quote }}
- name: COWORK_TOPIC_REPLICATION_FACTOR
  value: {{ .root.Values.topics.replicationFactor | quote }}
- name: COWORK_TOPIC_CONFIG
  value: {{ .root.Values.topics.config | default dict | toJson | quote }}
- name: COWORK_TOPIC_COMPACTION_BOUND_MS
  value: {{ .root.Values.topics.compactionBoundMs | int64 | quote }}
{{- if eq .name "membership" }}
- name: MEMBERSHIP_TRUSTED_PROXIES
  value: {{ .root.Values.trustedProxies | default list | toJson | quote }}
{{- end }}
{{- range $key, $value := .svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- range $key, $ref := .svc.secretEnv }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secret }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* The service's autoscaling: the chart-wide defaults overridden by the service's own. */}}
{{- define "cowork.autoscaling" -}}
{{- toYaml (merge (deepCopy (.svc.autoscaling | default dict)) .root.Values.autoscaling) -}}
{{- end -}}

{{/* Labels of the objects that are the chart's, not a service's (dashboards, alert rules). */}}
{{- define "cowork.monitoringLabels" -}}
app.kubernetes.io/name: cowork
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: monitoring
app.kubernetes.io/part-of: cowork
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
