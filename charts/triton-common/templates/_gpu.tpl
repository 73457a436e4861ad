{{/*
GPUs, in one place: the resources, toleration, node affinity and metrics flag of each GPU mode (whole GPUs,
MIG single, MIG mixed), the MIG profile catalog, and the checks on them. Every helper takes
(dict "ctx" $ "gpu" <the chart's gpu values> "path" "<value path of those values>"), the gpu values shaped
{count, products, tolerateGpuTaint, mig: {strategy, gpuModel, profile, ...}}.
*/}}

{{/*
MIG profiles each GPU model offers, with how many instances of each fit on one GPU. From NVIDIA mig-parted
deployments/systemd/config-default.yaml (the same as the GPU Operator's state-mig-manager ConfigMap); the H100
row was read off a real H100 80GB (`nvidia-smi mig -lgip`). Returned as JSON: {gpuModel: {profile: instances}}.
*/}}
{{- define "triton-common.gpu.migCatalog" -}}
{{- $a100_80 := dict "1g.10gb" 7 "1g.10gb+me" 1 "1g.20gb" 4 "2g.20gb" 3 "3g.40gb" 2 "4g.40gb" 1 "7g.80gb" 1 -}}
{{- $h100_96 := dict "1g.12gb" 7 "1g.12gb+me" 1 "1g.24gb" 4 "2g.24gb" 3 "3g.48gb" 2 "4g.48gb" 1 "7g.96gb" 1 -}}
{{- toJson (dict
  "A100-40GB" (dict "1g.5gb" 7 "1g.5gb+me" 1 "1g.10gb" 4 "2g.10gb" 3 "3g.20gb" 2 "4g.20gb" 1 "7g.40gb" 1)
  "A100-80GB" $a100_80
  "H100-80GB" $a100_80
  "H800-80GB" $a100_80
  "A30-24GB" (dict "1g.6gb" 4 "1g.6gb+me" 1 "2g.12gb" 2 "2g.12gb+me" 1 "4g.24gb" 1)
  "H100-NVL-94GB" (dict "1g.12gb" 7 "1g.12gb+me" 1 "1g.24gb" 4 "2g.24gb" 3 "3g.47gb" 2 "4g.47gb" 1 "7g.94gb" 1)
  "H100-96GB" $h100_96
  "GH200-96GB" $h100_96
  "H200-141GB" (dict "1g.18gb" 7 "1g.18gb+me" 1 "1g.35gb" 4 "2g.35gb" 3 "3g.71gb" 2 "4g.71gb" 1 "7g.141gb" 1)
  "B200-180GB" (dict "1g.23gb" 7 "1g.23gb+me" 1 "1g.45gb" 4 "2g.45gb" 3 "3g.90gb" 2 "4g.90gb" 1 "7g.180gb" 1)
) -}}
{{- end -}}

{{/* "true" when the pod uses MIG slices. */}}
{{- define "triton-common.gpu.mig" -}}
{{- if and .gpu.mig (ne (.gpu.mig.strategy | default "none") "none") -}}true{{- end -}}
{{- end -}}

{{/*
The extended resources a GPU container asks for, as JSON {resource: count}: nvidia.com/gpu x count for whole
GPUs and MIG single (the device plugin advertises slices as nvidia.com/gpu there), nvidia.com/mig-<profile> for
MIG mixed, with "+" written as "." as the device plugin names it (k8s-device-plugin internal/rm/rm.go).
*/}}
{{- define "triton-common.gpu.resources" -}}
{{- $count := int .gpu.count -}}
{{- if eq $count 0 -}}
{{- toJson dict -}}
{{- else if eq (.gpu.mig.strategy | default "none") "mixed" -}}
{{- toJson (dict (printf "nvidia.com/mig-%s" (replace "+" "." .gpu.mig.profile)) $count) -}}
{{- else -}}
{{- toJson (dict "nvidia.com/gpu" $count) -}}
{{- end -}}
{{- end -}}

{{/* A container's resources with the GPU resources added to requests and limits. Usage: (dict ... "resources" $r) */}}
{{- define "triton-common.gpu.withResources" -}}
{{- $resources := deepCopy (.resources | default dict) -}}
{{- $gpus := include "triton-common.gpu.resources" . | fromJson -}}
{{- if $gpus -}}
{{- $_ := set $resources "limits" (merge (deepCopy $gpus) ($resources.limits | default dict)) -}}
{{- $_ := set $resources "requests" (merge (deepCopy $gpus) ($resources.requests | default dict)) -}}
{{- end -}}
{{- toJson $resources -}}
{{- end -}}

{{/* Tolerations for GPU nodes, as a YAML list (empty without GPUs or when tolerateGpuTaint is false). */}}
{{- define "triton-common.gpu.tolerations" -}}
{{- if and (gt (int .gpu.count) 0) .gpu.tolerateGpuTaint -}}
- key: nvidia.com/gpu
  operator: Exists
  effect: NoSchedule
{{- end -}}
{{- end -}}

{{/*
Node affinity matchExpressions for GPU nodes, as a YAML list: the GPU product (GPU Feature Discovery's
nvidia.com/gpu.product; under MIG single the product with -MIG-<profile>, as GFD labels such nodes), and under
MIG a node whose MIG manager finished (nvidia.com/mig.config.state=success): a node still being
reconfigured would hand the pod a GPU that is going away.
*/}}
{{- define "triton-common.gpu.nodeSelectorExpressions" -}}
{{- $mig := include "triton-common.gpu.mig" . -}}
{{- $products := .gpu.products | default list -}}
{{- if and $mig (eq .gpu.mig.strategy "single") -}}
{{- $migProducts := list -}}
{{- range $products -}}{{- $migProducts = append $migProducts (printf "%s-MIG-%s" . $.gpu.mig.profile) -}}{{- end -}}
{{- $products = $migProducts -}}
{{- end -}}
{{- with $products }}
- key: nvidia.com/gpu.product
  operator: In
  values:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- if $mig }}
- key: nvidia.com/mig.config.state
  operator: In
  values: [success]
{{- end }}
{{- end -}}

{{/*
Whether Triton should export GPU metrics: with whole GPUs only. Under MIG, Triton cannot read per-slice
utilisation (server issue #5324) and the DCGM utilisation field is 0 or missing (dcgm-exporter #216, #430).
*/}}
{{- define "triton-common.gpu.metricsEnabled" -}}
{{- and (gt (int .gpu.count) 0) (not (include "triton-common.gpu.mig" .)) -}}
{{- end -}}

{{/* Slices of the chosen profile that one GPU holds: the declared layout's, else the catalog's all-<profile>. */}}
{{- define "triton-common.gpu.slicesPerGpu" -}}
{{- $catalog := include "triton-common.gpu.migCatalog" . | fromJson -}}
{{- $declared := int ((.gpu.mig.capacity).slicesPerGpu | default 0) -}}
{{- if gt $declared 0 -}}{{- $declared -}}{{- else -}}{{- int (get (get $catalog .gpu.mig.gpuModel | default dict) .gpu.mig.profile | default 0) -}}{{- end -}}
{{- end -}}

{{/*
Checks on the GPU values: a MIG profile the model offers, one slice per pod, and (with declared MIG nodes)
no more pods than slices. "replicas" is the most pods that can run at once (replicas or the autoscaler's
maximum, plus the rollout's surge pod), "replicasText" says how it was counted.
*/}}
{{- define "triton-common.gpu.validate" -}}
{{- $path := .path -}}
{{- $fail := dict "ctx" .ctx -}}
{{- $p := include "triton-common.validate.prefix" $fail -}}
{{- if include "triton-common.gpu.mig" . -}}
{{- $mig := .gpu.mig -}}
{{- $catalog := include "triton-common.gpu.migCatalog" . | fromJson -}}
{{- if not (hasKey $catalog $mig.gpuModel) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.mig.gpuModel" $path) "message" (printf "%q is not a GPU model with MIG. Use one of: %s." $mig.gpuModel (keys $catalog | sortAlpha | join ", "))) $fail) -}}
{{- end -}}
{{- $profiles := get $catalog $mig.gpuModel -}}
{{- if not (hasKey $profiles $mig.profile) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.mig.profile" $path) "message" (printf "%q is not a MIG profile of the %s (%s%s.mig.gpuModel). It offers: %s." $mig.profile $mig.gpuModel $p $path (keys $profiles | sortAlpha | join ", "))) $fail) -}}
{{- end -}}
{{- /* The products the pods are pinned to must be the GPU the profile is for: GPU Feature Discovery's product
label names the family as one dash-separated token (NVIDIA-H100-80GB-HBM3, NVIDIA-A100-SXM4-40GB, NVIDIA-H100-NVL,
NVIDIA-GH200-480GB). Only the family is compared: memory is not always in the label (NVIDIA-H100-PCIe). */ -}}
{{- $family := first (splitList "-" $mig.gpuModel) -}}
{{- range $product := .gpu.products -}}
{{- if contains "-MIG-" $product -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.products" $path) "message" (printf "lists %q, a node label of the MIG single strategy: list the GPU product without -MIG-<profile> (%s); the chart adds the profile's suffix itself." $product (regexReplaceAll "-MIG-.*$" $product ""))) $fail) -}}
{{- end -}}
{{- if not (has $family (splitList "-" $product)) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.products" $path) "message" (printf "lists %q, which is not a %s, but %s%s.mig.gpuModel is %s: the pods would ask for %s's %s slices on nodes of another GPU and stay Pending. Make the two agree: set gpuModel to the GPU of these products, or list %s products (kubectl get nodes -L nvidia.com/gpu.product)." $product $family $p $path $mig.gpuModel $mig.gpuModel $mig.profile $family)) $fail) -}}
{{- end -}}
{{- end -}}
{{- if ne (int .gpu.count) 1 -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.count" $path) "message" (printf "is %d with %s%s.mig.strategy %s: a pod gets exactly one MIG slice (a slice cannot span GPUs, and Triton sees one device). Set it to 1, or pick a larger profile." (int .gpu.count) $p $path $mig.strategy)) $fail) -}}
{{- end -}}
{{- if and (eq $mig.strategy "single") (not .gpu.products) -}}
{{- include "triton-common.validate.fail" (merge (dict "path" (printf "%s.products" $path) "message" (printf "is empty with %s%s.mig.strategy single: under the single strategy GPU Feature Discovery labels nodes nvidia.com/gpu.product=<product>-MIG-<profile>, and the chart pins pods to those. List the GPU products (e.g. NVIDIA-H100-80GB-HBM3)." $p $path)) $fail) -}}
{{- end -}}
{{- $capacity := $mig.capacity | default dict -}}
{{- if gt (int ($capacity.nodes | default 0)) 0 -}}
{{- $perGpu := int (include "triton-common.gpu.slicesPerGpu" .) -}}
{{- $slices := mul (int $capacity.nodes) (int $capacity.gpusPerNode) $perGpu -}}
{{- if gt (int .replicas) $slices -}}
{{- include "triton-common.validate.fail" (merge (dict "path" .replicasPath "message" (printf "%s = %d pods need %d MIG %s slices, but the declared MIG nodes offer %s%s.mig.capacity.nodes (%d) x %s%s.mig.capacity.gpusPerNode (%d) x %s%s.mig.capacity.slicesPerGpu (%d) = %d. The rest would stay Pending: lower it, or declare more MIG nodes." .replicasText (int .replicas) (int .replicas) $mig.profile $p $path (int $capacity.nodes) $p $path (int $capacity.gpusPerNode) $p $path $perGpu $slices)) $fail) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
