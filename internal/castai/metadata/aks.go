package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// aksEnv lists the AKS variables in the order errors name them.
var aksEnv = []string{EnvAKSLocation, EnvAKSNodeResourceGroup, EnvAKSSubscriptionID}

// azureInstancePath is the Azure IMDS instance endpoint with its API version.
const azureInstancePath = "/metadata/instance?api-version=2021-05-01"

// azureCompute is the part of the Azure IMDS instance document that registration needs.
type azureCompute struct {
	Location          string `json:"location"`
	ResourceGroupName string `json:"resourceGroupName"` // on an AKS node: the node resource group (MC_...)
	SubscriptionID    string `json:"subscriptionId"`
}

// aks fills what the AKS variables lack from Azure IMDS.
func (d *discoverer) aks(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Provider: ProviderAKS, Sources: map[string]string{}}
	vals, missing := d.envPick(m, aksEnv...)
	if len(missing) > 0 {
		c, err := d.azureCompute(ctx)
		if err == nil {
			found := map[string]string{EnvAKSLocation: c.Location, EnvAKSNodeResourceGroup: c.ResourceGroupName, EnvAKSSubscriptionID: c.SubscriptionID}
			for _, n := range missing {
				if v := strings.TrimSpace(found[n]); v != "" {
					vals[n] = v
					m.Sources[n] = SourceAzure
				}
			}
			err = errors.New("instance document lacks compute.location, compute.resourceGroupName or compute.subscriptionId")
		}
		if still := unset(vals, aksEnv); len(still) > 0 {
			return nil, &MissingMetadataError{Provider: ProviderAKS, MissingEnv: still, Cause: fmt.Errorf("Azure IMDS: %w", err)}
		}
	}
	m.Region, m.NodeResourceGroup, m.SubscriptionID = vals[EnvAKSLocation], vals[EnvAKSNodeResourceGroup], vals[EnvAKSSubscriptionID]
	return m, nil
}

// azureCompute reads the compute section of the Azure IMDS instance document.
func (d *discoverer) azureCompute(ctx context.Context) (azureCompute, error) {
	raw, _, err := d.get(ctx, http.MethodGet, strings.TrimRight(d.azureURL, "/")+azureInstancePath, http.Header{"Metadata": {"true"}})
	if err != nil {
		return azureCompute{}, err
	}
	var doc struct {
		Compute azureCompute `json:"compute"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return azureCompute{}, fmt.Errorf("instance document is not JSON: %w", err)
	}
	return doc.Compute, nil
}
