package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// awsClients talks to AWS IMDS (IMDSv2 only) and to the EC2 API.
type awsClients struct {
	imds       *imds.Client
	cfg        aws.Config
	ec2URL     string // empty: AWS_ENDPOINT_URL_EC2, else the region's endpoint
	timeout    time.Duration
	apiTimeout time.Duration
}

// identity is what the instance identity document gives.
type identity struct{ accountID, region, instanceID string }

// newAWS builds the IMDS client and loads the SDK's default configuration, whose credential
// chain ends with the node role read through that same IMDS client.
func (d *discoverer) newAWS(ctx context.Context) (*awsClients, error) {
	client := imds.New(imds.Options{
		Endpoint:       d.awsURL, // empty: AWS_EC2_METADATA_SERVICE_ENDPOINT, else 169.254.169.254
		HTTPClient:     d.http,
		EnableFallback: aws.FalseTernary, // IMDSv2 only
		Retryer:        aws.NopRetryer{}, // the registrar retries the whole discovery
	})
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithHTTPClient(d.apiHTTP),
		config.WithRetryMaxAttempts(2),
		config.WithEC2RoleCredentialOptions(func(o *ec2rolecreds.Options) { o.Client = client }),
	)
	if err != nil {
		return nil, fmt.Errorf("loading AWS SDK configuration: %w", err)
	}
	return &awsClients{imds: client, cfg: cfg, ec2URL: d.ec2URL, timeout: d.timeout, apiTimeout: d.apiTimeout}, nil
}

// identity reads the instance identity document.
func (a *awsClients) identity(ctx context.Context) (identity, error) {
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	doc, err := a.imds.GetInstanceIdentityDocument(rctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil && rctx.Err() != nil && ctx.Err() == nil {
		return identity{}, fmt.Errorf("instance identity document: no answer within %s (a pod gets IMDSv2 answers only "+
			"when the instance's metadata hop limit is 2 or more): %w", a.timeout, err)
	}
	if err != nil {
		return identity{}, fmt.Errorf("instance identity document: %w", err)
	}
	id := identity{accountID: doc.AccountID, region: doc.Region, instanceID: doc.InstanceID}
	if id.accountID == "" || id.region == "" || id.instanceID == "" {
		return identity{}, errors.New("instance identity document lacks accountId, region or instanceId")
	}
	return id, nil
}

// timedOut names the timeout when the request's own deadline (not the caller's) ended it.
func timedOut(parent, rctx context.Context, d time.Duration, err error) error {
	if rctx.Err() != nil && parent.Err() == nil {
		return fmt.Errorf("no answer within %s: %w", d, err)
	}
	return err
}

// describeTags returns the tags of instanceID from ec2:DescribeInstances in region.
func (a *awsClients) describeTags(ctx context.Context, instanceID, region string) (map[string]string, error) {
	rctx, cancel := context.WithTimeout(ctx, a.apiTimeout)
	defer cancel()
	if err := a.checkCredentials(rctx); err != nil {
		return nil, timedOut(ctx, rctx, a.apiTimeout, err)
	}
	client := ec2.NewFromConfig(a.cfg, func(o *ec2.Options) {
		o.Region = region
		if a.ec2URL != "" {
			o.BaseEndpoint = aws.String(a.ec2URL)
		}
	})
	out, err := client.DescribeInstances(rctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return nil, timedOut(ctx, rctx, a.apiTimeout, explainAPIError(err))
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) != instanceID {
				continue
			}
			tags := make(map[string]string, len(in.Tags))
			for _, t := range in.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			return tags, nil
		}
	}
	return nil, fmt.Errorf("ec2:DescribeInstances did not return instance %s", instanceID)
}

// checkCredentials fails early, and clearly, when the default chain finds no credentials.
func (a *awsClients) checkCredentials(ctx context.Context) error {
	if a.cfg.Credentials == nil {
		return errors.New("no AWS credentials")
	}
	if _, err := a.cfg.Credentials.Retrieve(ctx); err != nil {
		return fmt.Errorf("no AWS credentials (neither AWS_* env credentials nor a node role in IMDS): %w", err)
	}
	return nil
}

// EC2 error codes of credentials that lack the permission, and of credentials AWS rejects.
var (
	deniedCodes   = map[string]bool{"UnauthorizedOperation": true, "AccessDenied": true}
	rejectedCodes = map[string]bool{"AuthFailure": true, "InvalidClientTokenId": true, "SignatureDoesNotMatch": true,
		"ExpiredToken": true, "RequestExpired": true}
)

// explainAPIError says what an EC2 refusal means; the SDK's message carries no secret.
func explainAPIError(err error) error {
	var ae smithy.APIError
	switch {
	case !errors.As(err, &ae):
		return err
	case deniedCodes[ae.ErrorCode()]:
		return fmt.Errorf("the AWS credentials lack ec2:DescribeInstances (%s; AmazonEKSWorkerNodePolicy on the node role grants it): %w",
			ae.ErrorCode(), err)
	case rejectedCodes[ae.ErrorCode()]:
		return fmt.Errorf("AWS rejected the credentials (%s): %w", ae.ErrorCode(), err)
	}
	return err
}

// imdsTags reads the cluster tags that IMDS exposes (only with InstanceMetadataTags enabled).
func (a *awsClients) imdsTags(ctx context.Context) (map[string]string, error) {
	list, err := a.metadata(ctx, "tags/instance")
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	for _, k := range strings.Split(list, "\n") {
		if k = strings.TrimSpace(k); k == "" || !isClusterTagKey(k) {
			continue
		}
		v, err := a.metadata(ctx, "tags/instance/"+k)
		if err != nil {
			return nil, err
		}
		tags[k] = v
	}
	return tags, nil
}

// metadata GETs one IMDS meta-data path and returns the trimmed text.
func (a *awsClients) metadata(ctx context.Context, path string) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	out, err := a.imds.GetMetadata(rctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", timedOut(ctx, rctx, a.timeout, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, maxBody))
	if err != nil {
		return "", fmt.Errorf("reading IMDS %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}
