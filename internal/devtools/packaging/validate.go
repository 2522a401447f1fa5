package packaging

import (
	"fmt"
	"sort"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
)

// ValidationKubeVersion is the Kubernetes version the deprecated-API check validates against.
const ValidationKubeVersion = "1.37"

// BundleValidators are operator-framework/api's default bundle validators plus the `operatorframework`
// suite: OperatorHub, capabilities, categories, deprecated APIs and good practices.
var BundleValidators = validation.DefaultBundleValidators.WithValidators(
	validation.OperatorHubV2Validator,
	validation.StandardCapabilitiesValidator,
	validation.StandardCategoriesValidator,
	validation.AlphaDeprecatedAPIsValidator,
	validation.GoodPracticesValidator,
)

// ValidateBundle loads the bundle in dir and runs BundleValidators on it offline. It returns the
// validators' errors and warnings as "<validated object>: <message>" lines; err is set when the bundle
// cannot be loaded at all.
func ValidateBundle(dir string) (errs, warns []string, err error) {
	b, err := manifests.GetBundleFromDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("load bundle %s: %w", dir, err)
	}
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": ValidationKubeVersion})
	for _, r := range BundleValidators.Validate(objs...) {
		for _, e := range r.Errors {
			errs = append(errs, validationLine(r.Name, e))
		}
		for _, w := range r.Warnings {
			warns = append(warns, validationLine(r.Name, w))
		}
	}
	sort.Strings(errs)
	sort.Strings(warns)
	return errs, warns, nil
}

func validationLine(name string, e errors.Error) string {
	if name == "" {
		return e.Error()
	}
	return name + ": " + e.Error()
}
