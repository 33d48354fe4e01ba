# Offline smoke test for the terraform used by bosun's tests
# (tests/tools/smoke/run.sh).  Only the built-in provider
# terraform.io/builtin/terraform is used, so `terraform init` needs no network.

terraform {
  required_version = ">= 1.4"
}

variable "message" {
  type    = string
  default = "hello from bosun smoke"
}

resource "terraform_data" "smoke" {
  input            = var.message
  triggers_replace = [var.message]

  provisioner "local-exec" {
    command = "printf '%s\\n' \"$MESSAGE\" > \"$OUT\""
    environment = {
      MESSAGE = self.input
      OUT     = "${path.module}/applied.txt"
    }
  }
}

output "message" {
  value = terraform_data.smoke.output
}
