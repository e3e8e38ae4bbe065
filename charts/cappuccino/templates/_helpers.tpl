{{/* Names and labels: one place for every template. */}}
{{- define "cappuccino.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cappuccino.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "cappuccino.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "cappuccino.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cappuccino.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: cappuccino
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "cappuccino.operator.selectorLabels" -}}
app.kubernetes.io/name: cappuccino-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cappuccino.postgresql.selectorLabels" -}}
app.kubernetes.io/name: cappuccino-postgresql
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's ServiceAccount name is fixed: RBAC in operator/deploy/rbac.yaml and the tests use it. */}}
{{- define "cappuccino.serviceAccountName" -}}cappuccino-operator{{- end -}}

{{- define "cappuccino.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "cappuccino.postgresql.fullname" -}}{{ include "cappuccino.fullname" . }}-postgresql{{- end -}}
{{- define "cappuccino.postgresql.secretName" -}}{{ include "cappuccino.postgresql.fullname" . }}-auth{{- end -}}

{{/* The generated database password, kept across upgrades by reading back the existing Secret. */}}
{{- define "cappuccino.postgresql.password" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "cappuccino.postgresql.secretName" .) -}}
{{- if and $existing (index $existing.data "password") -}}
{{- index $existing.data "password" | b64dec -}}
{{- else -}}
{{- required "internal: password not generated" .pgPassword -}}
{{- end -}}
{{- end -}}

{{/* Restricted pod security: non-root, read-only root filesystem, no capabilities. */}}
{{- define "cappuccino.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cappuccino.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Value checks: each failure names the values path, the rule and the bad value. */}}
{{- define "cappuccino.validateValues" -}}
{{- if lt (int .Values.operator.replicas) 1 -}}
{{- fail (printf "operator.replicas: must be >= 1 (got %v)" .Values.operator.replicas) -}}
{{- end -}}
{{- if and (gt (int .Values.operator.replicas) 1) .Values.operator.watchNamespaces -}}
{{- fail (printf "operator.watchNamespaces: must be empty when operator.replicas > 1 (HA peering is cluster-wide; got %v)" .Values.operator.watchNamespaces) -}}
{{- end -}}
{{- if le (float64 .Values.operator.statusInterval) 0.0 -}}
{{- fail (printf "operator.statusInterval: must be > 0 seconds (got %v)" .Values.operator.statusInterval) -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.urlSecret.name) -}}
{{- fail "externalDatabase.urlSecret.name: required when postgresql.enabled is false (got \"\"); create a Secret holding the database URL and name it here" -}}
{{- end -}}
{{- if and .Values.postgresql.enabled .Values.externalDatabase.urlSecret.name -}}
{{- fail (printf "externalDatabase.urlSecret.name: must be empty when postgresql.enabled is true (got %q); disable one of them" .Values.externalDatabase.urlSecret.name) -}}
{{- end -}}
{{- if not (has .Values.artifacts.pvc.accessMode (list "ReadWriteMany" "ReadWriteOnce" "ReadWriteOncePod")) -}}
{{- fail (printf "artifacts.pvc.accessMode: must be ReadWriteMany, ReadWriteOnce or ReadWriteOncePod (got %q)" .Values.artifacts.pvc.accessMode) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .Values.storageSecretName) -}}
{{- fail (printf "storageSecretName: must be a DNS-1123 name (got %q)" .Values.storageSecretName) -}}
{{- end -}}
{{- end -}}
