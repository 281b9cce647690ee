{{- define "modelplane.name" -}}modelplane{{- end -}}

{{- define "modelplane.fullname" -}}
{{- if contains "modelplane" .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-modelplane" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "modelplane.labels" -}}
app.kubernetes.io/name: modelplane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "modelplane.selectorLabels" -}}
app.kubernetes.io/name: modelplane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelplane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "modelplane.fullname" .) .Values.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* The operator's permissions: exactly the verbs and resources it uses. */}}
{{- define "modelplane.rules" -}}
- apiGroups: ["modelplane.io"]
  resources: ["modelservices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["modelplane.io"]
  resources: ["modelservices/status"]
  verbs: ["patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["controllerrevisions"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* The gateway: its own name (a DNS label, so at most 63 characters), labels and identity. */}}
{{- define "modelplane.gateway.fullname" -}}
{{- printf "%s-gateway" (include "modelplane.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{/* The headless admin Service the operator reads gateway metrics through. */}}
{{- define "modelplane.gateway.adminName" -}}
{{- printf "%s-admin" (include "modelplane.gateway.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{- define "modelplane.gateway.selectorLabels" -}}
app.kubernetes.io/name: modelplane
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "modelplane.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create -}}{{ default (include "modelplane.gateway.fullname" .) .Values.gateway.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.gateway.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* The namespaces the gateway serves, comma-separated (empty: all). */}}
{{- define "modelplane.gateway.namespaces" -}}
{{- join "," (.Values.gateway.watchNamespaces | default .Values.operator.watchNamespaces) -}}
{{- end -}}

{{/* The gateway's permissions: it only reads (list-then-watch, see
operator/modelplane/gateway/discovery.py); no write verb belongs here. */}}
{{- define "modelplane.gateway.rules" -}}
- apiGroups: ["modelplane.io"]
  resources: ["modelservices"]
  verbs: ["list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["list", "watch"]
# The gateway watches only Secrets labelled modelplane.io/api-keys=true, but
# RBAC cannot restrict by label: this grants reading every Secret in scope.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["list", "watch"]
{{- end -}}
