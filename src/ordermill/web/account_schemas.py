"""Bodies of the account, token, balance and audit routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from ordermill.web.schemas import (
    Money,
    Name,
    PhoneIn,
    RequestModel,
    SignedAmountIn,
    Text,
    amount_field,
)

Password = Annotated[str, Field(min_length=10, max_length=1024)]


class SignupRequest(RequestModel):
    name: Name
    email: EmailStr
    password: Password
    phone: PhoneIn | None = None


class PasswordResetRequest(RequestModel):
    email: EmailStr


class PasswordResetAccepted(BaseModel):
    status: str = Field(description="The same whether or not the address has an account")


class PasswordResetConfirm(RequestModel):
    token: Annotated[str, Field(min_length=1, max_length=200, description="From the link")]
    password: Password


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")


class WhoAmI(BaseModel):
    user_id: int
    email: str
    role: str
    customer_id: int | None


class UserCreate(RequestModel):
    email: EmailStr
    password: Password
    role: Literal["staff", "admin"]


class UserUpdate(RequestModel):
    disabled: bool | None = None
    role: Literal["staff", "admin"] | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    role: str
    customer_id: int | None
    disabled: bool
    created: datetime
    last_login: datetime | None


class ApiTokenCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class ApiTokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str | None
    created: datetime
    expires: datetime | None
    revoked: datetime | None


class ApiTokenIssued(ApiTokenPublic):
    token: str = Field(description="Shown once; store it now")


class BalanceAdjust(RequestModel):
    amount: SignedAmountIn = Field(description="Added to the balance; negative to take away")
    reason: Annotated[str, Field(min_length=1, max_length=500)]

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        minor = amount_field(value, "amount", allow_negative=True)
        if minor == 0:
            raise ValueError("amount must not be zero")
        return minor


class BalancePublic(BaseModel):
    customer_id: int
    balance: Money


class MeCheckout(RequestModel):
    """A customer's own checkout: the order is placed; staff process it."""

    shipping_address: Text | None = None
    note: Text | None = None


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    user_id: int | None
    token_id: int | None
    action: str
    entity: str
    entity_id: int
    detail: dict[str, Any]
