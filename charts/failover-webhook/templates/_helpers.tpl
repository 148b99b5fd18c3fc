{{/*
The labels Helm's conventions add to every object of the release; the
objects' other labels come from manifests/ (hack/helmify).
*/}}
{{- define "failover-webhook.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}
