package s3read

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// describe turns an SDK error into one that says what went wrong in the
// store's words ("the bucket does not exist", "access denied") with the
// store's own code and message, instead of the SDK's layers of operation
// names and request ids.
func describe(err error, what string) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		var netErr *net.OpError
		if errors.As(err, &netErr) {
			// The SDK retried already; its wrapping says only that.
			return fmt.Errorf("%s: cannot reach the store: %w", what, netErr)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	code, message := apiErr.ErrorCode(), apiErr.ErrorMessage()
	detail := code
	if message != "" {
		detail += ": " + message
	}
	switch code {
	case "NoSuchBucket":
		return fmt.Errorf("%s: the bucket does not exist (%s)", what, detail)
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s: no such object (%s)", what, detail)
	case "AccessDenied", "AllAccessDisabled", "Forbidden":
		return fmt.Errorf("%s: access denied (%s); check the credentials' permissions (s3:ListBucket on the bucket, s3:GetObject on its objects)", what, detail)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%s: the store refused the credentials (%s)", what, detail)
	case "PermanentRedirect", "AuthorizationHeaderMalformed":
		return fmt.Errorf("%s: the bucket is in another region (%s); set --s3-region", what, detail)
	}
	// HEAD answers carry no body, so the SDK knows only the status.
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound {
		return fmt.Errorf("%s: not found (%s)", what, detail)
	}
	return fmt.Errorf("%s: %s", what, detail)
}
