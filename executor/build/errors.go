package build

import "fmt"

// Error is an error a CodeBuild API caller can act on, named like CodeBuild's exceptions.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// ErrorCode lets the API layer answer with the exception name.
func (e *Error) ErrorCode() string { return e.Code }

// CodeBuild exception names.
const (
	CodeNotFound      = "ResourceNotFoundException"
	CodeAlreadyExists = "ResourceAlreadyExistsException"
	CodeInvalidInput  = "InvalidInputException"
	CodeLimitExceeded = "AccountLimitExceededException"
)

func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}
