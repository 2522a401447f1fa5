package release

import (
	"bytes"
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's fixed paths and ids (the Dockerfile's distroless base has the same).
const (
	// BinaryPath is where the operator binary sits in the image (its entrypoint).
	BinaryPath = "/castware-operator"
	// CABundlePath is the CA bundle, where Go's crypto/x509 looks on Linux.
	CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
	// NonRootID is the user and group id the image runs as.
	NonRootID = 65532
	// NonRootUser is the image's user in uid:gid form.
	NonRootUser = "65532:65532"
	// NonRootHome is the home directory of the nonroot user.
	NonRootHome = "/home/nonroot"
)

// passwd and group name root and the nonroot user, neither able to log in.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// CABundle returns the PEM bundle of the unconstrained roots of golang.org/x/crypto/x509roots/fallback
// (Mozilla's program, pinned by go.mod). Roots that carry a distrust-after constraint are left out: a
// PEM file cannot express the constraint, and leaving them out errs on the side of trusting less.
func CABundle() ([]byte, error) {
	var buf bytes.Buffer
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, fmt.Errorf("encode root certificate: %w", err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("the fallback bundle holds no unconstrained root")
	}
	return buf.Bytes(), nil
}

// BaseFiles returns the files of the image's base layer: passwd and group, the CA bundle, the nonroot
// user's home and a world-writable /tmp.
func BaseFiles() ([]File, error) {
	ca, err := CABundle()
	if err != nil {
		return nil, err
	}
	return []File{
		{Name: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Name: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Name: CABundlePath[1:], Mode: 0o644, Data: ca},
		{Name: "home/", Mode: 0o755},
		{Name: NonRootHome[1:] + "/", Mode: 0o700, UID: NonRootID, GID: NonRootID},
		{Name: "tmp/", Mode: 0o1777},
	}, nil
}
