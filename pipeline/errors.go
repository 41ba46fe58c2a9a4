package pipeline

import (
	"errors"
	"fmt"
)

// ErrorCode names an error the way the CodePipeline API names its exceptions, so the API layer can
// answer with the same __type AWS would.
type ErrorCode string

// The codes the engine returns.
const (
	CodeValidation                ErrorCode = "ValidationException"
	CodeInvalidStructure          ErrorCode = "InvalidStructureException"
	CodeInvalidStage              ErrorCode = "InvalidStageDeclarationException"
	CodeInvalidAction             ErrorCode = "InvalidActionDeclarationException"
	CodePipelineNameInUse         ErrorCode = "PipelineNameInUseException"
	CodePipelineNotFound          ErrorCode = "PipelineNotFoundException"
	CodePipelineVersionNotFound   ErrorCode = "PipelineVersionNotFoundException"
	CodeExecutionNotFound         ErrorCode = "PipelineExecutionNotFoundException"
	CodeStageNotFound             ErrorCode = "StageNotFoundException"
	CodeActionNotFound            ErrorCode = "ActionNotFoundException"
	CodeInvalidApprovalToken      ErrorCode = "InvalidApprovalTokenException"
	CodeApprovalAlreadyCompleted  ErrorCode = "ApprovalAlreadyCompletedException"
	CodeNotStoppable              ErrorCode = "PipelineExecutionNotStoppableException"
	CodeDuplicatedStop            ErrorCode = "DuplicatedStopRequestException"
	CodeStageNotRetryable         ErrorCode = "StageNotRetryableException"
	CodeNotLatestExecution        ErrorCode = "NotLatestPipelineExecutionException"
	CodeUnableToRollbackStage     ErrorCode = "UnableToRollbackStageException"
	CodeExecutionOutdated         ErrorCode = "PipelineExecutionOutdatedException"
	CodeConflict                  ErrorCode = "ConflictException"
	CodeConcurrentLimitExceeded   ErrorCode = "ConcurrentPipelineExecutionsLimitExceededException"
	CodeResourceNotFound          ErrorCode = "ResourceNotFoundException"
	CodeInvalidTags               ErrorCode = "InvalidTagsException"
	CodeUnsupportedOperation      ErrorCode = "UnsupportedOperationException"
	CodeLimitExceeded             ErrorCode = "LimitExceededException"
	CodeConcurrentModification    ErrorCode = "ConcurrentModificationException"
	CodeInvalidNextToken          ErrorCode = "InvalidNextTokenException"
	CodeInvalidClientRequestToken ErrorCode = "InvalidClientRequestTokenException"
	CodeConditionNotOverridable   ErrorCode = "ConditionNotOverridableException"
)

// Error is an error a caller can act on: a code and a message for humans. Everything else the engine
// returns is an internal failure.
type Error struct {
	Code ErrorCode
	Msg  string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Msg }

// ErrorCode lets the API layer answer with the exception name.
func (e *Error) ErrorCode() string { return string(e.Code) }

func errorf(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err if it is (or wraps) an *Error.
func CodeOf(err error) (ErrorCode, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return "", false
}
