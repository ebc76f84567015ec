FROM registry.example.com/acme/app:2.0
