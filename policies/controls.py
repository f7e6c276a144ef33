"""The control catalogue: every control ID a policy may claim, with its framework and title.

IDs are `<framework> <control>`: `FSBP S3.5` (AWS Security Hub's consolidated control
IDs; most belong to the Foundational Security Best Practices standard, those marked
`(NIST std)` are Security Hub controls enabled through its NIST 800-53 standard),
`CIS 2.1.1` (CIS AWS Foundations Benchmark v3.0.0), `NIST SC-28` (NIST SP 800-53 rev. 5)
and `CIS-K8S 5.2.6` (CIS Kubernetes Benchmark v1.8, for the Kubernetes serving path).
A test keeps every policy's controls inside this catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

FRAMEWORKS: dict[str, str] = {
    "FSBP": "AWS Security Hub (Foundational Security Best Practices)",
    "CIS": "CIS AWS Foundations Benchmark v3.0.0",
    "NIST": "NIST SP 800-53 rev. 5",
    "CIS-K8S": "CIS Kubernetes Benchmark v1.8",
}


@dataclass(frozen=True)
class Control:
    id: str
    title: str

    @property
    def framework(self) -> str:
        return self.id.split(" ", 1)[0]

    @property
    def family(self) -> str:
        """`FSBP S3.5` -> `S3`; `CIS 2.1.1` -> `2`; `NIST SC-28(1)` -> `SC`; k8s -> `5.2`."""
        ref = self.id.split(" ", 1)[1]
        if self.framework == "FSBP":
            return ref.split(".", 1)[0]
        if self.framework == "NIST":
            return ref.split("-", 1)[0]
        if self.framework == "CIS-K8S":
            return ".".join(ref.split(".")[:2])
        return ref.split(".", 1)[0]


_CONTROLS = [
    # AWS Security Hub
    ("FSBP S3.5", "S3 general purpose buckets should require requests to use SSL"),
    ("FSBP S3.6", "S3 bucket policies should restrict access to other AWS accounts"),
    ("FSBP S3.8", "S3 general purpose buckets should block public access"),
    ("FSBP S3.9", "S3 general purpose buckets should have server access logging enabled"),
    ("FSBP S3.12", "ACLs should not be used to manage user access to S3 buckets"),
    ("FSBP S3.13", "S3 general purpose buckets should have Lifecycle configurations"),
    ("FSBP S3.14", "S3 general purpose buckets should have versioning enabled (NIST std)"),
    ("FSBP S3.15", "S3 general purpose buckets should have Object Lock enabled (NIST std)"),
    ("FSBP S3.17", "S3 buckets should be encrypted at rest with AWS KMS keys (NIST std)"),
    ("FSBP KMS.1", "IAM customer managed policies should not allow decryption on all KMS keys"),
    ("FSBP KMS.2", "IAM principals should not have inline policies decrypting all KMS keys"),
    ("FSBP KMS.3", "AWS KMS keys should not be deleted unintentionally"),
    ("FSBP KMS.4", "AWS KMS key rotation should be enabled"),
    ("FSBP KMS.5", "KMS keys should not be publicly accessible"),
    ("FSBP IAM.1", 'IAM policies should not allow full "*" administrative privileges'),
    ("FSBP IAM.21", "IAM customer managed policies should not allow wildcard actions"),
    ("FSBP ECR.1", "ECR private repositories should have image scanning configured"),
    ("FSBP ECR.2", "ECR private repositories should have tag immutability configured"),
    ("FSBP ECR.3", "ECR repositories should have at least one lifecycle policy configured"),
    ("FSBP ECR.5", "ECR repositories should be encrypted with customer managed KMS keys"),
    ("FSBP SNS.1", "SNS topics should be encrypted at-rest using AWS KMS"),
    ("FSBP CloudWatch.16", "CloudWatch log groups should be retained for a period (NIST std)"),
    ("FSBP CloudTrail.1", "CloudTrail should have a multi-Region trail with management events"),
    ("FSBP CloudTrail.2", "CloudTrail should have encryption at-rest enabled"),
    ("FSBP CloudTrail.4", "CloudTrail log file validation should be enabled"),
    ("FSBP CloudTrail.5", "CloudTrail trails should be integrated with Amazon CloudWatch Logs"),
    ("FSBP CloudTrail.7", "S3 bucket access logging should be enabled on the CloudTrail bucket"),
    ("FSBP EC2.2", "VPC default security groups should not allow inbound or outbound traffic"),
    ("FSBP EC2.6", "VPC flow logging should be enabled in all VPCs"),
    ("FSBP EC2.15", "EC2 subnets should not automatically assign public IP addresses"),
    ("FSBP EC2.18", "Security groups should only allow unrestricted ingress on authorized ports"),
    ("FSBP EC2.19", "Security groups should not allow unrestricted access to high-risk ports"),
    ("FSBP SageMaker.4", "SageMaker endpoint production variants should have more than 1 instance"),
    ("FSBP SageMaker.5", "SageMaker models should have network isolation enabled"),
    # CIS AWS Foundations Benchmark v3.0.0
    ("CIS 1.16", 'IAM policies that allow full "*:*" administrative privileges are not attached'),
    ("CIS 2.1.1", "S3 bucket policy is set to deny HTTP requests"),
    ("CIS 2.1.4", "S3 buckets are configured with Block public access (bucket settings)"),
    ("CIS 3.1", "CloudTrail is enabled in all regions"),
    ("CIS 3.2", "CloudTrail log file validation is enabled"),
    ("CIS 3.4", "S3 bucket access logging is enabled on the CloudTrail S3 bucket"),
    ("CIS 3.5", "CloudTrail logs are encrypted at rest using KMS CMKs"),
    ("CIS 3.6", "Rotation for customer-created symmetric CMKs is enabled"),
    ("CIS 3.7", "VPC flow logging is enabled in all VPCs"),
    ("CIS 3.8", "Object-level logging for write events is enabled for S3 buckets"),
    ("CIS 3.9", "Object-level logging for read events is enabled for S3 buckets"),
    ("CIS 4.1", "Unauthorized API calls are monitored"),
    ("CIS 4.2", "Management console sign-in without MFA is monitored"),
    ("CIS 4.3", "Usage of the 'root' account is monitored"),
    ("CIS 4.4", "IAM policy changes are monitored"),
    ("CIS 4.5", "CloudTrail configuration changes are monitored"),
    ("CIS 4.6", "AWS Management Console authentication failures are monitored"),
    ("CIS 4.7", "Disabling or scheduled deletion of customer created CMKs is monitored"),
    ("CIS 4.8", "S3 bucket policy changes are monitored"),
    ("CIS 4.9", "AWS Config configuration changes are monitored"),
    ("CIS 4.10", "Security group changes are monitored"),
    ("CIS 4.11", "Changes to Network Access Control Lists (NACL) are monitored"),
    ("CIS 4.12", "Changes to network gateways are monitored"),
    ("CIS 4.13", "Route table changes are monitored"),
    ("CIS 4.14", "VPC changes are monitored"),
    ("CIS 4.15", "AWS Organizations changes are monitored"),
    ("CIS 5.2", "No security groups allow ingress from 0.0.0.0/0 to remote admin ports"),
    ("CIS 5.3", "No security groups allow ingress from ::/0 to remote admin ports"),
    ("CIS 5.4", "The default security group of every VPC restricts all traffic"),
    # NIST SP 800-53 rev. 5
    ("NIST AC-3", "Access Enforcement"),
    ("NIST AC-4", "Information Flow Enforcement"),
    ("NIST AC-5", "Separation of Duties"),
    ("NIST AC-6", "Least Privilege"),
    ("NIST AC-21", "Information Sharing"),
    ("NIST AU-2", "Event Logging"),
    ("NIST AU-3", "Content of Audit Records"),
    ("NIST AU-6", "Audit Record Review, Analysis, and Reporting"),
    ("NIST AU-9", "Protection of Audit Information"),
    ("NIST AU-11", "Audit Record Retention"),
    ("NIST AU-12", "Audit Record Generation"),
    ("NIST CM-3", "Configuration Change Control"),
    ("NIST CM-5", "Access Restrictions for Change"),
    ("NIST CM-7", "Least Functionality"),
    ("NIST CP-9", "System Backup"),
    ("NIST CP-10", "System Recovery and Reconstitution"),
    ("NIST IA-2", "Identification and Authentication (Organizational Users)"),
    ("NIST IR-4", "Incident Handling"),
    ("NIST RA-5", "Vulnerability Monitoring and Scanning"),
    ("NIST SC-5", "Denial-of-service Protection"),
    ("NIST SC-6", "Resource Availability"),
    ("NIST SC-7", "Boundary Protection"),
    ("NIST SC-8", "Transmission Confidentiality and Integrity"),
    ("NIST SC-12", "Cryptographic Key Establishment and Management"),
    ("NIST SC-13", "Cryptographic Protection"),
    ("NIST SC-28", "Protection of Information at Rest"),
    ("NIST SC-39", "Process Isolation"),
    ("NIST SI-4", "System Monitoring"),
    ("NIST SI-7", "Software, Firmware, and Information Integrity"),
    ("NIST SI-12", "Information Management and Retention"),
    # CIS Kubernetes Benchmark v1.8
    ("CIS-K8S 5.2.1", "The cluster has at least one active policy control mechanism"),
    ("CIS-K8S 5.2.2", "Minimize the admission of privileged containers"),
    ("CIS-K8S 5.2.5", "Minimize the admission of containers sharing the host network"),
    ("CIS-K8S 5.2.6", "Minimize the admission of containers with allowPrivilegeEscalation"),
    ("CIS-K8S 5.2.7", "Minimize the admission of root containers"),
    ("CIS-K8S 5.2.9", "Minimize the admission of containers with added capabilities"),
    ("CIS-K8S 5.2.12", "Minimize the admission of HostPath volumes"),
    ("CIS-K8S 5.3.2", "All Namespaces have Network Policies defined"),
    ("CIS-K8S 5.7.2", "The seccomp profile is set to RuntimeDefault in pod definitions"),
    ("CIS-K8S 5.7.3", "Apply Security Context to Your Pods and Containers"),
]
CONTROLS: dict[str, Control] = {cid: Control(cid, title) for cid, title in _CONTROLS}


def control(control_id: str) -> Control:
    return CONTROLS[control_id]
