"""Enrolment's HTTP API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import AfterValidator, BaseModel, Field

from services.enrolment.domain.national_id import (
    InvalidNationalId,
    NationalId,
    parse_national_id,
)
from services.enrolment.domain.registration import RegisterWorker
from services.enrolment.handlers import register_worker
from shared.runtime.service import ServiceContext, context, metadata_for

router = APIRouter(tags=["workers"])


def _national_id(value: str) -> NationalId:
    try:
        return parse_national_id(value)
    except InvalidNationalId as exc:
        raise ValueError(str(exc)) from None


class WorkerRegistration(BaseModel):
    name: str = Field(min_length=1, max_length=60, description="Real name")
    national_id: Annotated[str, AfterValidator(lambda v: _national_id(v).number)] = Field(
        description="18-digit resident identity number (GB 11643 check digit)")
    mobile: str = Field(pattern=r"^1[3-9]\d{9}$", description="Mainland mobile number")


class WorkerRegisteredResponse(BaseModel):
    worker_id: str


@router.post("/workers", status_code=status.HTTP_201_CREATED,
             response_model=WorkerRegisteredResponse,
             summary="Register a worker under their real name",
             responses={409: {"description": "Already registered; the body names the worker_id"}})
async def post_worker(body: WorkerRegistration, request: Request,
                      ctx: Annotated[ServiceContext, Depends(context)]
                      ) -> WorkerRegisteredResponse:
    command = RegisterWorker(name=body.name, national_id=parse_national_id(body.national_id),
                             mobile=body.mobile)
    worker_id = await register_worker(ctx, command, metadata_for(request))
    return WorkerRegisteredResponse(worker_id=worker_id)
