module "api" {
  source   = "../../modules/service"
  name     = "api"
  replicas = 3
}

module "worker" {
  source = "../../modules/service"
  name   = "worker"
}

output "api" {
  value = module.api.address
}
