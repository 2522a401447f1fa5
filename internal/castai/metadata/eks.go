package metadata

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// eksEnv lists the EKS variables in the order errors name them; each one overrides its value.
var eksEnv = []string{EnvEKSAccountID, EnvEKSRegion, EnvEKSClusterName}

// imdsTagsHint says what the IMDS tag fallback needs.
const imdsTagsHint = "instance tags are not in IMDS (the instance's metadata option InstanceMetadataTags is disabled, " +
	"the EC2 default)"

// eks fills what the EKS variables lack from the IMDSv2 identity document and the node's own
// tags, read with ec2:DescribeInstances or, failing that, from IMDS.
func (d *discoverer) eks(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Provider: ProviderEKS, Sources: map[string]string{}}
	vals, missing := d.envPick(m, eksEnv...)
	m.AccountID, m.Region, m.ClusterName = vals[EnvEKSAccountID], vals[EnvEKSRegion], vals[EnvEKSClusterName]
	if len(missing) == 0 {
		return m, nil
	}
	a, err := d.newAWS(ctx)
	if err != nil {
		return nil, eksMissing(missing, err)
	}
	id, err := a.identity(ctx)
	if err != nil {
		return nil, eksMissing(missing, fmt.Errorf("AWS IMDS: %w", err))
	}
	m.InstanceID = id.instanceID
	fill(m, &m.AccountID, EnvEKSAccountID, id.accountID, SourceAWS)
	fill(m, &m.Region, EnvEKSRegion, id.region, SourceAWS)
	if m.ClusterName != "" {
		return m, nil
	}
	name, source, err := a.clusterName(ctx, id)
	if err != nil {
		return nil, eksMissing([]string{EnvEKSClusterName}, err)
	}
	fill(m, &m.ClusterName, EnvEKSClusterName, name, source)
	return m, nil
}

// eksMissing is the error that names the EKS variables still to set.
func eksMissing(missing []string, cause error) *MissingMetadataError {
	return &MissingMetadataError{Provider: ProviderEKS, MissingEnv: missing, Cause: cause}
}

// fill sets *field to value, from source, unless the environment already gave it.
func fill(m *Metadata, field *string, env, value, source string) {
	if *field == "" {
		*field = value
		m.Sources[env] = source
	}
}

// clusterName reads the cluster name from the instance's tags: ec2:DescribeInstances first,
// the tags in IMDS when that call fails. It returns the name and where it came from.
func (a *awsClients) clusterName(ctx context.Context, id identity) (name, source string, err error) {
	tags, derr := a.describeTags(ctx, id.instanceID, id.region)
	if derr == nil {
		name, err := clusterNameFromTags(tags)
		if err != nil {
			return "", "", fmt.Errorf("instance %s: %w", id.instanceID, err)
		}
		return name, SourceEC2, nil
	}
	tags, terr := a.imdsTags(ctx)
	if terr == nil {
		if name, err = clusterNameFromTags(tags); err == nil {
			return name, SourceAWS, nil
		}
		terr = err
	}
	return "", "", fmt.Errorf("ec2:DescribeInstances on %s: %w; IMDS instance tags: %w", id.instanceID, derr, explainIMDSTags(terr))
}

// explainIMDSTags says why a 404 from the IMDS tag listing happens.
func explainIMDSTags(err error) error {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return fmt.Errorf("%s: %w", imdsTagsHint, err)
	}
	return err
}
