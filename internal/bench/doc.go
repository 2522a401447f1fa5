// Package bench is `make bench`: it starts a local control plane (etcd, kube-apiserver with an audit log,
// kube-controller-manager, kube-scheduler, kwok), the fake Cast AI API and a chart repository, runs the
// operator as a separate process, and measures — in one run, as ratios where a floor exists — install
// latency against the helm CLI, console-action latency, idle cost (kube-apiserver and Cast AI API
// requests, CPU), memory as the cluster grows, and how often charts are downloaded. It reports; it does
// not assert (timing never fails `make test`).
package bench
