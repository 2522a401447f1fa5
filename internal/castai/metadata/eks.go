package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// eksEnv lists the EKS variables; if one is set, all are required.
var eksEnv = []string{EnvEKSAccountID, EnvEKSRegion, EnvEKSClusterName}

// tagHint explains what is needed for the cluster name to come from IMDS.
const tagHint = "instance tags in IMDS must be enabled (metadata option InstanceMetadataTags=enabled) " +
	"and the node must carry a cluster tag (kubernetes.io/cluster/<name>=owned, k8s.io/cluster/<name>=owned, " +
	"KubernetesCluster=<name> or eks:cluster-name=<name>); note that EC2 refuses to expose tags whose keys contain '/', " +
	"so EKS_CLUSTER_NAME is usually the simpler way"

func (d *discoverer) eks(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Provider: ProviderEKS, Sources: map[string]string{}}
	vals, missing := d.envPick(m, eksEnv...)
	if len(vals) > 0 {
		if len(missing) > 0 {
			set := make([]string, 0, len(vals))
			for _, n := range eksEnv {
				if _, ok := vals[n]; ok {
					set = append(set, n)
				}
			}
			return nil, &MissingMetadataError{
				Provider:   ProviderEKS,
				MissingEnv: missing,
				Cause: fmt.Errorf("EKS variables are partially set (%s set, %s missing); set all three or none",
					strings.Join(set, ", "), strings.Join(missing, ", ")),
			}
		}
		m.AccountID, m.Region, m.ClusterName = vals[EnvEKSAccountID], vals[EnvEKSRegion], vals[EnvEKSClusterName]
		return m, nil
	}

	fail := func(err error) error {
		return &MissingMetadataError{Provider: ProviderEKS, MissingEnv: append([]string(nil), eksEnv...),
			Cause: fmt.Errorf("AWS IMDS: %w", err)}
	}
	base := strings.TrimRight(d.awsURL, "/")
	token, err := d.get(ctx, http.MethodPut, base+"/latest/api/token", http.Header{
		"X-aws-ec2-metadata-token-ttl-seconds": {strconv.Itoa(int(d.tokenTTL.Seconds()))},
	})
	if err != nil {
		return nil, fail(fmt.Errorf("getting IMDSv2 token: %w", err))
	}
	auth := http.Header{"X-aws-ec2-metadata-token": {strings.TrimSpace(string(token))}}

	raw, err := d.get(ctx, http.MethodGet, base+"/latest/dynamic/instance-identity/document", auth)
	if err != nil {
		return nil, fail(fmt.Errorf("instance identity document: %w", err))
	}
	var doc struct {
		Region     string `json:"region"`
		AccountID  string `json:"accountId"`
		InstanceID string `json:"instanceId"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fail(fmt.Errorf("instance identity document is not JSON: %w", err))
	}
	if doc.Region == "" || doc.AccountID == "" {
		return nil, fail(errors.New("instance identity document lacks region or accountId"))
	}
	m.Region, m.AccountID, m.InstanceID = doc.Region, doc.AccountID, doc.InstanceID
	m.Sources[EnvEKSRegion], m.Sources[EnvEKSAccountID] = SourceAWS, SourceAWS

	name, err := d.eksClusterName(ctx, base, auth)
	if err != nil {
		return nil, fail(fmt.Errorf("cluster name: %w; %s", err, tagHint))
	}
	m.ClusterName = name
	m.Sources[EnvEKSClusterName] = SourceAWS
	return m, nil
}

// eksClusterName finds the cluster name in the instance tags exposed by IMDS.
func (d *discoverer) eksClusterName(ctx context.Context, base string, auth http.Header) (string, error) {
	raw, err := d.get(ctx, http.MethodGet, base+"/latest/meta-data/tags/instance", auth)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			return "", fmt.Errorf("instance tags are not available in IMDS (%w)", err)
		}
		return "", fmt.Errorf("listing instance tags: %w", err)
	}
	var keys []string
	for _, k := range strings.Split(string(raw), "\n") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	tag := func(key string) (string, error) {
		v, err := d.get(ctx, http.MethodGet, base+"/latest/meta-data/tags/instance/"+url.PathEscape(key), auth)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(v)), nil
	}
	// Ownership tags carry the name in the key; "owned" marks the cluster the node belongs to.
	for _, prefix := range []string{"kubernetes.io/cluster/", "k8s.io/cluster/"} {
		for _, k := range keys {
			name, ok := strings.CutPrefix(k, prefix)
			if !ok || name == "" {
				continue
			}
			v, err := tag(k)
			if err != nil {
				if isUnreachable(err) {
					return "", err
				}
				continue
			}
			if v == "owned" {
				return name, nil
			}
		}
	}
	// Tags whose value is the name itself (kops, EKS managed node groups).
	for _, want := range []string{"KubernetesCluster", "eks:cluster-name", "aws:eks:cluster-name"} {
		for _, k := range keys {
			if k != want {
				continue
			}
			v, err := tag(k)
			if err != nil {
				if isUnreachable(err) {
					return "", err
				}
				continue
			}
			if v != "" {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("no cluster tag among %d instance tags", len(keys))
}
