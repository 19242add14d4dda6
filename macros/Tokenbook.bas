' tokenbook のボタン。各ボタンは Python の tokenbook.excel.button を呼ぶだけで、
' 確認ダイアログ、進み具合の表示、結果のメッセージは Python 側が出します。
Option Explicit

Public Sub CheckInput()
    RunPython "import tokenbook.excel as x; x.button('check')"
End Sub

Public Sub WeeklyAllocate()
    RunPython "import tokenbook.excel as x; x.button('allocate')"
End Sub

Public Sub ConfirmShipment()
    RunPython "import tokenbook.excel as x; x.button('confirm')"
End Sub

Public Sub MakeMonthlyReports()
    RunPython "import tokenbook.excel as x; x.button('report')"
End Sub

Public Sub SendMonthlyReports()
    RunPython "import tokenbook.excel as x; x.button('send')"
End Sub

' issue 10: 入庫取込・申込書取込・発送書類作成・追跡番号取込
Public Sub ReceiveStock()
    RunPython "import tokenbook.excel as x; x.button('receive')"
End Sub

Public Sub TakeRequestForms()
    RunPython "import tokenbook.excel as x; x.button('intake')"
End Sub

Public Sub MakeParcelDocuments()
    RunPython "import tokenbook.excel as x; x.button('parcels')"
End Sub

Public Sub TakeTrackingNumbers()
    RunPython "import tokenbook.excel as x; x.button('tracking')"
End Sub
