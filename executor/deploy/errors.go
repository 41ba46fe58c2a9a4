package deploy

import (
	"errors"
	"fmt"
)

// Error is an error a CodeDeploy API caller can act on, named like CodeDeploy's exceptions.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// ErrorCode lets the API layer answer with the exception name.
func (e *Error) ErrorCode() string { return e.Code }

func errorf(code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeDeploy exception names used here.
const (
	CodeApplicationAlreadyExists   = "ApplicationAlreadyExistsException"
	CodeApplicationDoesNotExist    = "ApplicationDoesNotExistException"
	CodeBatchLimitExceeded         = "BatchLimitExceededException"
	CodeDeploymentAlreadyCompleted = "DeploymentAlreadyCompletedException"
	CodeConfigAlreadyExists        = "DeploymentConfigAlreadyExistsException"
	CodeConfigDoesNotExist         = "DeploymentConfigDoesNotExistException"
	CodeDeploymentDoesNotExist     = "DeploymentDoesNotExistException"
	CodeGroupAlreadyExists         = "DeploymentGroupAlreadyExistsException"
	CodeGroupDoesNotExist          = "DeploymentGroupDoesNotExistException"
	CodeGroupNameRequired          = "DeploymentGroupNameRequiredException"
	CodeTargetDoesNotExist         = "DeploymentTargetDoesNotExistException"
	CodeTargetListSizeExceeded     = "DeploymentTargetListSizeExceededException"
	CodeIamArnRequired             = "IamArnRequiredException"
	CodeInstanceNameAlreadyExists  = "InstanceNameAlreadyRegisteredException"
	CodeInstanceNotRegistered      = "InstanceNotRegisteredException"
	CodeInvalidApplicationName     = "InvalidApplicationNameException"
	CodeInvalidAutoRollbackConfig  = "InvalidAutoRollbackConfigException"
	CodeInvalidComputePlatform     = "InvalidComputePlatformException"
	CodeInvalidConfigName          = "InvalidDeploymentConfigNameException"
	CodeInvalidDeploymentStyle     = "InvalidDeploymentStyleException"
	CodeInvalidEC2Tag              = "InvalidEC2TagException"
	CodeInvalidFileExistsBehavior  = "InvalidFileExistsBehaviorException"
	CodeInvalidGroupName           = "InvalidDeploymentGroupNameException"
	CodeInvalidInput               = "InvalidInputException"
	CodeInvalidInstanceName        = "InvalidInstanceNameException"
	CodeInvalidMinimumHealthy      = "InvalidMinimumHealthyHostValueException"
	CodeInvalidNextToken           = "InvalidNextTokenException"
	CodeInvalidOnPremTagCombo      = "InvalidOnPremisesTagCombinationException"
	CodeInvalidOperation           = "InvalidOperationException"
	CodeInvalidRegistrationStatus  = "InvalidRegistrationStatusException"
	CodeInvalidRevision            = "InvalidRevisionException"
	CodeInvalidTag                 = "InvalidTagException"
	CodeInvalidTargetFilterName    = "InvalidTargetFilterNameException"
	CodeInvalidDeploymentStatus    = "InvalidDeploymentStatusException"
	CodeMultipleIamArns            = "MultipleIamArnsProvidedException"
	CodeRevisionDoesNotExist       = "RevisionDoesNotExistException"
	CodeRevisionRequired           = "RevisionRequiredException"
	CodeTagRequired                = "TagRequiredException"
	CodeUnsupportedForDeployType   = "UnsupportedActionForDeploymentTypeException"
)

// Errors of the agent protocol; the agent API maps them to HTTP statuses.
var (
	// ErrUnauthenticated: unknown agent, wrong credential, revoked or deregistered (401).
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrTokenGone: the registration token was used or has expired (410).
	ErrTokenGone = errors.New("registration token used or expired")
	// ErrNameTaken: an active agent is registered under the name (409).
	ErrNameTaken = errors.New("instance name taken")
	// ErrNotYours: the command or bundle belongs to another agent (403).
	ErrNotYours = errors.New("not this agent's command")
	// ErrUnknownCommand: no such command (404).
	ErrUnknownCommand = errors.New("unknown command")
	// ErrLeaseLost: the host was failed already, the command's lease is gone (409).
	ErrLeaseLost = errors.New("lease lost")
	// ErrCommandEnded: the command ended already with another outcome (409).
	ErrCommandEnded = errors.New("command ended")
	// ErrBadReport: a malformed report (400).
	ErrBadReport = errors.New("bad report")
)
