{{/* Labels Helm adds to every object (the Kustomize base has only app). */}}
{{- define "egressgw.labels" -}}
app: egressgw
app.kubernetes.io/name: egressgw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* An httpGet probe: (list host port path); an empty host is the pod's IP. */}}
{{- define "egressgw.probe" -}}
{{- $host := index . 0 -}}
{{- if $host -}}
{host: {{ $host }}, port: {{ index . 1 }}, path: {{ index . 2 }}}
{{- else -}}
{port: {{ index . 1 }}, path: {{ index . 2 }}}
{{- end -}}
{{- end -}}
