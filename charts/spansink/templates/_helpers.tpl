{{/*
spansink.fullname is the prefix of every object's name. With the release
named "spansink" it is "spansink", which gives the names config/default
gives (namePrefix spansink-), so that a `make deploy` installation and a
release name their objects alike.
*/}}
{{- define "spansink.fullname" -}}
{{- $name := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $name = .Values.fullnameOverride -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- $name = .Release.Name -}}
{{- else -}}
{{- $name = printf "%s-%s" .Release.Name .Chart.Name -}}
{{- end -}}
{{- /* Cutting the name short could make two releases' names collide; a
clear error is better. "-controller-manager-metrics" is the longest suffix,
and a Service's name is a DNS label of 63 characters at most. */ -}}
{{- if gt (len $name) 36 -}}
{{- fail (printf "the objects' name prefix %q is %d characters long; at most 36 leave room for %s-controller-manager-metrics within 63: choose a shorter release name or set fullnameOverride" $name (len $name) $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/*
spansink.labels are every object's labels: the name config/ gives its
objects, and Helm's standard labels. app.kubernetes.io/managed-by says Helm
here and kustomize in config/.
*/}}
{{- define "spansink.labels" -}}
app.kubernetes.io/name: spansink-operator
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
spansink.selectorLabels select the manager's pods. They are config/manager's,
with nothing from the release, since a Deployment's selector cannot change
after it is created: the chart's objects select the pods that config/'s do.
*/}}
{{- define "spansink.selectorLabels" -}}
app.kubernetes.io/name: spansink-operator
control-plane: controller-manager
{{- end -}}

{{/*
spansink.image is the operator's image reference.
*/}}
{{- define "spansink.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
spansink.rules renders the rules of a role file under files/rbac, which
`make chart` copies from config/rbac: the rules are written once, there
(role.yaml is generated from the RBAC markers). Call it with the root
context and the file name: (list . "role.yaml").
*/}}
{{- define "spansink.rules" -}}
{{- $root := index . 0 -}}
{{- $file := printf "files/rbac/%s" (index . 1) -}}
{{- $role := $root.Files.Get $file | fromYaml -}}
{{- if not $role.rules -}}
{{- fail (printf "%s holds no rules: run `make chart` to copy it from config/rbac" $file) -}}
{{- end -}}
{{- toYaml $role.rules -}}
{{- end -}}
