# A "service": built-in terraform_data resources, so the example plans offline.
variable "name" {
  type = string
}

variable "replicas" {
  type    = number
  default = 1
}

resource "terraform_data" "service" {
  input = {
    name     = var.name
    replicas = var.replicas
  }
}

resource "terraform_data" "dns" {
  input            = "${var.name}.example.internal"
  triggers_replace = [var.name]
}

output "address" {
  value = terraform_data.dns.output
}
