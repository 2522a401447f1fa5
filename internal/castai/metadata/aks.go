package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// aksEnv lists the AKS variables in the order errors name them.
var aksEnv = []string{EnvAKSLocation, EnvAKSNodeResourceGroup, EnvAKSSubscriptionID}

// azureInstancePath is the Azure IMDS instance endpoint with its API version.
const azureInstancePath = "/metadata/instance?api-version=2021-05-01"

func (d *discoverer) aks(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Provider: ProviderAKS, Sources: map[string]string{}}
	vals, missing := d.envPick(m, aksEnv...)
	if len(missing) > 0 {
		raw, err := d.get(ctx, http.MethodGet, strings.TrimRight(d.azureURL, "/")+azureInstancePath,
			http.Header{"Metadata": {"true"}})
		var cause error
		if err == nil {
			var doc struct {
				Compute struct {
					Location          string `json:"location"`
					ResourceGroupName string `json:"resourceGroupName"`
					SubscriptionID    string `json:"subscriptionId"`
				} `json:"compute"`
			}
			if jerr := json.Unmarshal(raw, &doc); jerr != nil {
				cause = fmt.Errorf("instance document is not JSON: %w", jerr)
			} else {
				found := map[string]string{
					EnvAKSLocation:          strings.TrimSpace(doc.Compute.Location),
					EnvAKSNodeResourceGroup: strings.TrimSpace(doc.Compute.ResourceGroupName),
					EnvAKSSubscriptionID:    strings.TrimSpace(doc.Compute.SubscriptionID),
				}
				for _, n := range missing {
					if v := found[n]; v != "" {
						vals[n] = v
						m.Sources[n] = SourceAzure
					}
				}
				cause = fmt.Errorf("instance document lacks compute.location, compute.resourceGroupName or compute.subscriptionId")
			}
		} else {
			cause = err
		}
		var still []string
		for _, n := range aksEnv {
			if vals[n] == "" {
				still = append(still, n)
			}
		}
		if len(still) > 0 {
			return nil, &MissingMetadataError{Provider: ProviderAKS, MissingEnv: still,
				Cause: fmt.Errorf("Azure IMDS: %w", cause)}
		}
	}
	m.Region, m.NodeResourceGroup, m.SubscriptionID = vals[EnvAKSLocation], vals[EnvAKSNodeResourceGroup], vals[EnvAKSSubscriptionID]
	return m, nil
}
