module "api" {
  source   = "../../modules/service"
  name     = "api-staging"
  replicas = 1
}

output "api" {
  value = module.api.address
}
