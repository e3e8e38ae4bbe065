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

{{/* Selector labels of one component: (dict "ctx" $ "component" "operator"). They never change
across chart versions (Deployment selectors are immutable). */}}
{{- define "cappuccino.selectorLabels" -}}
app.kubernetes.io/name: cappuccino-{{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{/* Every label of an object, each key once (kustomize and strict YAML parsers reject duplicates):
(dict "ctx" $ "component" "operator"); without a component, name is `cappuccino`. */}}
{{- define "cappuccino.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: cappuccino
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{ include "cappuccino.selectorLabels" . }}
{{- else }}
app.kubernetes.io/name: cappuccino
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end }}
{{- end -}}

{{/* Pod template metadata: selector labels, then the user's podLabels/podAnnotations
(dict "ctx" $ "component" "operator" "values" .Values.operator "annotations" (dict ...)). */}}
{{- define "cappuccino.podMetadata" -}}
labels:
  {{- include "cappuccino.selectorLabels" . | nindent 2 }}
  app.kubernetes.io/component: {{ .component }}
  app.kubernetes.io/part-of: cappuccino
  {{- range $k, $v := .values.podLabels }}
  {{- if not (has $k (list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "app.kubernetes.io/part-of")) }}
  {{ $k }}: {{ $v | quote }}
  {{- end }}
  {{- end }}
{{- $annotations := merge (dict) (.annotations | default dict) (.values.podAnnotations | default dict) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Scheduling and pull secrets shared by every pod spec: (dict "ctx" $ "values" .Values.operator). */}}
{{- define "cappuccino.podScheduling" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The operator's ServiceAccount name is fixed: RBAC in operator/deploy/rbac.yaml and the tests use it. */}}
{{- define "cappuccino.serviceAccountName" -}}cappuccino-operator{{- end -}}
{{- define "cappuccino.dashboard.serviceAccountName" -}}{{ include "cappuccino.fullname" . }}-dashboard{{- end -}}

{{- define "cappuccino.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{- define "cappuccino.postgresql.fullname" -}}{{ include "cappuccino.fullname" . }}-postgresql{{- end -}}
{{- define "cappuccino.postgresql.secretName" -}}
{{- default (printf "%s-auth" (include "cappuccino.postgresql.fullname" .)) .Values.postgresql.auth.existingSecret -}}
{{- end -}}
{{- define "cappuccino.postgresql.host" -}}
{{- printf "%s.%s.svc" (include "cappuccino.postgresql.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The database roles (contract 8): role name and the Secret pods read it from. */}}
{{- define "cappuccino.database.roles" -}}
worker: {role: cappuccino_worker, secret: {{ .Values.database.storageSecret }}}
trader: {role: cappuccino_trader, secret: {{ .Values.database.ledgerSecret }}}
readonly: {role: cappuccino_readonly, secret: {{ .Values.database.readonlySecret }}}
{{- end -}}

{{/* Passwords of the bundled PostgreSQL as JSON {postgres, worker, trader, readonly}: the value
given, else the one already in the cluster's Secret (so upgrades and re-installs keep it; the
key `password` is chart 0.1.0's owner password), else a new random one. */}}
{{- define "cappuccino.postgresql.passwords" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "cappuccino.postgresql.secretName" .) -}}
{{- $data := (get ($existing | default dict) "data") | default dict -}}
{{- $out := dict -}}
{{- range $who := list "postgres" "worker" "trader" "readonly" -}}
{{- $given := get $.Values.postgresql.auth.passwords $who -}}
{{- $old := get $data (printf "%s-password" $who) | default (and (eq $who "postgres") (get $data "password")) -}}
{{- if $given -}}
{{- $_ := set $out $who $given -}}
{{- else if $old -}}
{{- $_ := set $out $who (b64dec $old) -}}
{{- else -}}
{{- $_ := set $out $who (randAlphaNum 32) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The only Secrets a namespaced operator may `get` in a watched namespace (its Role's
resourceNames): the database Secrets (contract 8; with an external database or
postgresql.auth.existingSecret these are the user's own, same names) and
operator.rbac.extraSecretNames (e.g. Studies' own storageSecretRef names). Sorted, unique. Never
postgresql.auth.existingSecret itself: it holds the superuser password, which the operator never reads. */}}
{{- define "cappuccino.operator.secretNames" -}}
{{- $names := list .Values.database.storageSecret .Values.database.ledgerSecret .Values.database.readonlySecret -}}
{{- $names = concat $names (.Values.operator.rbac.extraSecretNames | default list) -}}
{{- toYaml ($names | uniq | sortAlpha) -}}
{{- end -}}

{{/* The Secret and key the operator's own CAPPUCCINO_STORAGE comes from (operator.databaseAccess). */}}
{{- define "cappuccino.operator.storageRef" -}}
name: {{ ternary .Values.database.readonlySecret .Values.database.storageSecret (eq .Values.operator.databaseAccess "readonly") }}
key: {{ .Values.database.secretKey }}
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
{{- if and .Values.operator.metrics.enabled (eq (int .Values.operator.metrics.port) (int .Values.operator.healthPort)) -}}
{{- fail (printf "operator.metrics.port: must differ from operator.healthPort (both %v)" .Values.operator.healthPort) -}}
{{- end -}}
{{- if not (has .Values.artifacts.pvc.accessMode (list "ReadWriteMany" "ReadWriteOnce" "ReadWriteOncePod")) -}}
{{- fail (printf "artifacts.pvc.accessMode: must be ReadWriteMany, ReadWriteOnce or ReadWriteOncePod (got %q)" .Values.artifacts.pvc.accessMode) -}}
{{- end -}}
{{- range $path := list "storageSecret" "ledgerSecret" "readonlySecret" -}}
{{- $name := get $.Values.database $path -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" $name) -}}
{{- fail (printf "database.%s: must be a DNS-1123 name (got %q)" $path $name) -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^[-._a-zA-Z0-9]+$" .Values.database.secretKey) -}}
{{- fail (printf "database.secretKey: must consist of letters, digits, '-', '_' or '.' (got %q)" .Values.database.secretKey) -}}
{{- end -}}
{{- if and .Values.postgresql.auth.existingSecret (not .Values.postgresql.enabled) -}}
{{- fail "postgresql.auth.existingSecret: only used with postgresql.enabled=true; with an external database create the database.*Secret Secrets instead" -}}
{{- end -}}
{{- if .Values.postgresql.auth.existingSecret -}}
{{- include "cappuccino.checkSecretKeys" (dict "ctx" . "name" .Values.postgresql.auth.existingSecret "keys" (list "postgres-password" "worker-password" "trader-password" "readonly-password") "path" "postgresql.auth.existingSecret") -}}
{{- end -}}
{{- if or (not .Values.postgresql.enabled) .Values.postgresql.auth.existingSecret -}}
{{- include "cappuccino.checkExternalSecrets" . -}}
{{- end -}}
{{- end -}}

{{/* With an external database or postgresql.auth.existingSecret (the chart writes no Secret): each
database Secret must exist and hold database.secretKey.
Checked only when the chart can read the cluster (helm install/upgrade; `helm template` cannot). */}}
{{- define "cappuccino.checkExternalSecrets" -}}
{{- if not .Values.externalDatabase.skipSecretCheck -}}
{{- range $path := list "storageSecret" "ledgerSecret" "readonlySecret" -}}
{{- include "cappuccino.checkSecretKeys" (dict "ctx" $ "name" (get $.Values.database $path) "keys" (list $.Values.database.secretKey) "path" (printf "database.%s" $path)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cappuccino.checkSecretKeys" -}}
{{- $ns := .ctx.Release.Namespace -}}
{{- if lookup "v1" "Namespace" "" $ns -}}
{{- $secret := lookup "v1" "Secret" $ns .name -}}
{{- if not $secret -}}
{{- fail (printf "%s: Secret %q not found in namespace %q; create it (keys %s) or fix the name" .path .name $ns (join ", " .keys)) -}}
{{- end -}}
{{- range $key := .keys -}}
{{- if not (hasKey ($secret.data | default dict) $key) -}}
{{- fail (printf "%s: Secret %q has no key %q (keys: %s); add it or set database.secretKey" $.path $.name $key (join ", " (keys ($secret.data | default dict) | sortAlpha))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
