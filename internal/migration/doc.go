// Package migration adopts Cast AI components that run in a cluster before the operator manages them:
// Helm releases installed with the helm CLI, workloads applied from plain YAML manifests, and Component
// resources created by Terraform with spec.migration "terraform".
//
// It has three parts:
//
//   - detection and extraction (detect.go, extract.go, version.go, clusterid.go): for a catalog entry, find
//     its Helm release or its workload and turn what the user configured (version, environment, resources,
//     replicas, node selector, tolerations, priority class, image) into chart values, without ever copying
//     API-key material; recover the cluster's existing Cast AI ID;
//   - the Cluster hook (scanner.go, terraform.go): create a Component for every component found without one,
//     as Cluster.spec.migrationMode says (write, autoUpgrade or read), or hand Terraform-created Components
//     over once their version is known;
//   - takeover support used by the Component controller (takeover.go, leftovers.go, workloads.go): a
//     server-side dry run of exactly the patches Helm's take-ownership install would send, the patches of
//     the running workload around that install (its legacy API_KEY entry, a paused rollout), and the plan
//     for objects of an old installation the chart replaces. The controller decides when; these know how.
//
// The pure functions (extraction, version parsing, value sanitising, leftover planning, Terraform handover)
// have table tests next to them; the behaviour against a real control plane is tested in test/integration.
package migration
