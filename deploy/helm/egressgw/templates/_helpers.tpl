{{/* Labels Helm adds to every object (the Kustomize base has only app). */}}
{{- define "egressgw.labels" -}}
app: egressgw
app.kubernetes.io/name: egressgw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

