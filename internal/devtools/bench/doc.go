// Package bench is `make bench`: it starts a local control plane (etcd, kube-apiserver with an audit log,
// kube-controller-manager, kube-scheduler, kwok), the fake Cast AI API and a chart repository, runs the
// operator as a separate process, and measures — in one run, as ratios where a floor exists — install
// latency against the helm CLI (back to back and in parallel), console-action latency and idle cost
// (kube-apiserver and Cast AI API requests, CPU) against an API that holds polls and one that answers at
// once, the binary's size, memory as the cluster grows, and how often charts are downloaded. It reports; it
// does not assert (timing never fails `make test`).
package bench
