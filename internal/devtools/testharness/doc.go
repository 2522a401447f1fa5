// Package testharness is the one test harness every integration test uses: a real kube-apiserver and
// etcd (envtest), optionally kube-controller-manager, kube-scheduler and kwok with fake nodes so Pods
// become Ready, an HTTP chart repository serving test charts with fault injection, and process
// bookkeeping that kills every started binary even when the test binary is killed.
//
// Every address the control plane may dial stays on loopback: the Service CIDR is 127.100.0.0/16 and
// kwok's pod and node IPs are in 127.101.0.0/16.
//
// Binaries come from KUBEBUILDER_ASSETS, else ~/.cache/k8s-testbin (`make testbin` builds them there).
package testharness
