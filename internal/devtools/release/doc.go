// Package release builds what the project releases without a container engine: the operator image
// (a static binary, a CA bundle and a nonroot user on an empty base, for linux/amd64 and linux/arm64 in
// one index), the OLM bundle image, the operator and components chart archives (the operator chart
// pinning the image by digest), and a manifest listing every artifact and its digest. Every output is
// reproducible: file times are the source date (SOURCE_DATE_EPOCH or the commit time), tar entries are
// sorted and owned by fixed ids, so two builds of one commit give the same digests. Push copies a release
// to any OCI registry (the charts as Helm OCI artifacts). cmd/castware-release and the Makefile's image,
// bundle-image, release and push targets call it.
package release
