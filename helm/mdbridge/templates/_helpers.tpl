{{/* Names, labels and the few values every template derives. */}}

{{- define "mdbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or the release name when it already contains the chart name. */}}
{{- define "mdbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mdbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; call with (dict "ctx" $ "component" "bridge"). */}}
{{- define "mdbridge.labels" -}}
helm.sh/chart: {{ include "mdbridge.chart" .ctx }}
{{ include "mdbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: mdbridge
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels: stable across upgrades, one set per component. */}}
{{- define "mdbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mdbridge.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector of every pod of this release (any component). */}}
{{- define "mdbridge.releaseSelector" -}}
app.kubernetes.io/name: {{ include "mdbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mdbridge.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "mdbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mdbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mdbridge.configName" -}}
{{- printf "%s-config" (include "mdbridge.fullname" .) -}}
{{- end -}}

{{- define "mdbridge.authSecretName" -}}
{{- default (printf "%s-auth" (include "mdbridge.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "mdbridge.nats.fullname" -}}
{{- printf "%s-nats" (include "mdbridge.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mdbridge.nats.headless" -}}
{{- printf "%s-headless" (include "mdbridge.nats.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mdbridge.nats.secretName" -}}
{{- default (printf "%s-nats-auth" (include "mdbridge.fullname" .)) .Values.nats.auth.existingSecret -}}
{{- end -}}

{{/* The NATS users of files/nats/least-privilege.conf, one Secret key "<user>-password" each. */}}
{{- define "mdbridge.nats.users" -}}
adapter bridge reader quality admin
{{- end -}}

{{/* Every server of the chart's cluster (clients then survive any one being down), or the
     external URL. */}}
{{- define "mdbridge.natsUrl" -}}
{{- if .Values.nats.deploy -}}
{{- $urls := list -}}
{{- $sts := include "mdbridge.nats.fullname" . -}}
{{- $svc := include "mdbridge.nats.headless" . -}}
{{- range $i := until (int .Values.nats.replicas) -}}
{{- $urls = append $urls (printf "nats://%s-%d.%s:%d" $sts $i $svc (int $.Values.nats.ports.client)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- else -}}
{{- required "nats.external.url is required when nats.deploy is false" .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/* The bridge drains for graceSeconds after the preStop pause; Kubernetes must wait longer. */}}
{{- define "mdbridge.bridge.terminationGracePeriod" -}}
{{- add .Values.bridge.shutdown.preStopSleepSeconds .Values.bridge.shutdown.graceSeconds 10 -}}
{{- end -}}

{{/* A secret value: the given one, else the one already in the cluster (upgrades), else a
     new random one (first install; offline rendering always takes this branch). */}}
{{- define "mdbridge.secretValue" -}}
{{- $given := .value -}}
{{- if $given -}}
{{- $given | b64enc -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing (index $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 40 | b64enc -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The keys the token-key Secret holds, space separated (none when auth is off). */}}
{{- define "mdbridge.authKeys" -}}
{{- $jwt := .Values.auth.jwt -}}
{{- if ne .Values.auth.mode "jwt" -}}
{{- else if .Values.auth.existingSecret -}}
{{- join " " .Values.auth.existingSecretKeys -}}
{{- else -}}
{{- $keys := list -}}
{{- if or $jwt.hs256Secret (not (or $jwt.publicKey $jwt.jwks)) -}}
{{- $keys = append $keys "hs256-secret" -}}
{{- end -}}
{{- if $jwt.publicKey -}}{{- $keys = append $keys "public-key.pem" -}}{{- end -}}
{{- if $jwt.jwks -}}{{- $keys = append $keys "jwks.json" -}}{{- end -}}
{{- join " " $keys -}}
{{- end -}}
{{- end -}}

{{/* Configuration checks that the values schema cannot express. */}}
{{- define "mdbridge.validate" -}}
{{- if and .Values.nats.deploy (gt (int .Values.streams.replicas) (int .Values.nats.replicas)) -}}
{{- fail (printf "streams.replicas (%d) cannot exceed nats.replicas (%d)" (int .Values.streams.replicas) (int .Values.nats.replicas)) -}}
{{- end -}}
{{- if gt (int .Values.bridge.autoscaling.minReplicas) (int .Values.bridge.autoscaling.maxReplicas) -}}
{{- fail "bridge.autoscaling.minReplicas cannot exceed maxReplicas" -}}
{{- end -}}
{{- $jwt := .Values.auth.jwt -}}
{{- if and (eq .Values.auth.mode "jwt") .Values.auth.existingSecret (or $jwt.hs256Secret $jwt.publicKey $jwt.jwks) -}}
{{- fail "auth.jwt keys and auth.existingSecret are exclusive: put the keys in the Secret" -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by the bridge and the adapters: NATS credentials of one user. */}}
{{- define "mdbridge.natsAuthEnv" -}}
{{- if .ctx.Values.nats.auth.enabled -}}
- name: MDBRIDGE_NATS_USER
  value: {{ .user }}
- name: MDBRIDGE_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mdbridge.nats.secretName" .ctx }}
      key: {{ .user }}-password
{{ end -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: MDBRIDGE_NATS_NAME
  value: $(POD_NAME)
{{- end -}}
